"""The converter driver: an ONNX graph into a verified IR ``Graph``.

Contracts of ``convert(loaded)``:

- graph inputs (those not also initializers) keep their ONNX names, in
  order; a ``dim_param`` becomes a symbol (made an identifier: ``batch size``
  -> ``batch_size``), a dim with neither value nor param a fresh symbol
  ``<input>_dim<axis>``; so does a negative ``dim_value`` (exporters write -1
  for "unknown"; onnxruntime reads it so too), with an ``OnnxImportWarning``
  naming the input and axis; ``dim_value`` 0 is a zero-size axis (as in
  onnxruntime and the ONNX spec), with a warning too, since only empty arrays
  can then be fed;
- an initializer named like a graph input is, in ONNX IR >= 4, that input's
  default, which a caller may override; nanograph keeps it a constant (the
  graph cannot take it as an input: shapes and folding use its value), as
  onnxruntime's ``get_inputs()`` also leaves it out; one
  ``OnnxImportWarning`` names every such input;
- only nodes that the graph outputs depend on are converted; if any of them
  is unsupported, one ``UnsupportedOpError`` lists them all (see
  ``unsupported``) before anything is converted; a node without converter
  whose inputs are all constants or shapes is folded instead (``folding``);
- initializers and ``Constant`` nodes are known values; they become graph
  constants named as in ONNX only where a graph op uses them;
- each node's IR nodes carry its ONNX name as ``loc`` (``node <op>_<i>`` if
  unnamed), its outputs keep their ONNX names, and any error raised while
  converting it names it;
- graph outputs are named as in ONNX (an ``identity`` is added where an
  output is an input, a constant, or another output; an output that *is* a
  graph input is named ``<name>.output``, names being unique); nodes and
  constants nothing uses are removed, and the graph is verified.
"""

from __future__ import annotations

import re
import warnings

import onnx

from nanograph.frontend.onnx_import import (  # noqa: F401  (registers the converters)
    ops_attention,
    ops_constant,
    ops_conv,
    ops_elementwise,
    ops_linalg,
    ops_norm,
    ops_reduce,
    ops_shape,
)
from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.folding import constant_nodes, fold_with_reference
from nanograph.frontend.onnx_import.loading import LoadedOnnx
from nanograph.frontend.onnx_import.operands import Known, Operand
from nanograph.frontend.onnx_import.registry import CONVERTERS, OnnxNode, schema_version
from nanograph.frontend.onnx_import.tensors import onnx_dtype, tensor_to_array
from nanograph.frontend.onnx_import.unsupported import check_supported, node_loc
from nanograph.ir.dims import Dim, SymExpr
from nanograph.ir.errors import (
    InternalError,
    NanographError,
    OnnxImportWarning,
    OnnxLoadError,
    UnsupportedOpError,
)
from nanograph.ir.graph import Graph, Value
from nanograph.ir.types import DType, TensorType
from nanograph.ir.verify import verify


def symbol_name(text: str) -> str:
    """``text`` as a dimension symbol: non-identifier characters become ``_``."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def input_type(info: onnx.ValueInfoProto) -> TensorType:
    """The IR type of a graph input; dims without a value (or with a negative one, warned
    about) become symbols; a zero ``dim_value`` stays 0 and is warned about."""
    what = f"graph input {info.name!r}"
    if not info.type.HasField("tensor_type"):
        raise UnsupportedOpError(f"{what} is not a tensor (sequences and maps are not supported)")
    tensor = info.type.tensor_type
    dtype = onnx_dtype(tensor.elem_type, what)
    if not tensor.HasField("shape"):
        raise UnsupportedOpError(
            f"{what} has no shape, not even a rank",
            hint="export the model with input shapes (named dims may stay symbolic)",
        )
    dims: list[Dim] = []
    for axis, dim in enumerate(tensor.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value >= 0:
            if dim.dim_value == 0:
                warnings.warn(
                    f"{what} has dim_value 0 at axis {axis}: a zero-size axis (as onnxruntime "
                    "reads it), so only empty arrays can be fed; if the exporter meant "
                    "'unknown', give the axis a dim_param (a name) instead",
                    OnnxImportWarning,
                    stacklevel=2,
                )
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_value"):
            label = f"{info.name}_dim{axis}"
            warnings.warn(
                f"{what} has the negative dim_value {dim.dim_value} at axis {axis}; read as "
                f"unknown (as onnxruntime does): the symbol {symbol_name(label)}; to name it, "
                "give the axis a dim_param instead",
                OnnxImportWarning,
                stacklevel=2,
            )
            dims.append(SymExpr.symbol(symbol_name(label)))
        else:
            label = dim.dim_param or f"{info.name}_dim{axis}"
            dims.append(SymExpr.symbol(symbol_name(label)))
    return TensorType(dtype, tuple(dims))


def live_nodes(graph: onnx.GraphProto) -> tuple[list[tuple[int, onnx.NodeProto]], set[str]]:
    """The nodes the graph outputs depend on (with their indices), and every value they use."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output if name}
    needed = {o.name for o in graph.output}
    live: set[int] = set()
    stack = [producer[n] for n in needed if n in producer]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        for name in graph.node[i].input:
            if name:
                needed.add(name)
                if name in producer:
                    stack.append(producer[name])
    return [(i, graph.node[i]) for i in sorted(live)], needed


class _Converter:
    """The state of one conversion: the builder and what each ONNX name stands for."""

    def __init__(self, loaded: LoadedOnnx) -> None:
        self.loaded = loaded
        proto = loaded.model.graph
        self.graph = Graph(proto.name or "onnx_model")
        self.builder = Builder(self.graph)
        self.env: dict[str, Operand] = {}
        initializers = {t.name for t in proto.initializer}
        for info in proto.input:
            if info.name not in initializers:
                value = self.graph.add_input(info.name, input_type(info))
                self.builder.add_symbol_sources(value)
                self.env[info.name] = value
        _warn_defaults(loaded, [i.name for i in proto.input if i.name in initializers])

    def run(self) -> Graph:
        proto = self.loaded.model.graph
        nodes, used = live_nodes(proto)
        for tensor in proto.initializer:  # only those used: an unused one may be any dtype
            if tensor.name in used:
                array = tensor_to_array(tensor, f"initializer {tensor.name!r}")
                self.env[tensor.name] = Known(array, DType.parse(array.dtype), tensor.name)
        self.foldable = constant_nodes(proto, nodes)
        check_supported(nodes, self.loaded.opsets, self.foldable)
        for index, node in nodes:
            self.convert_node(index, node, used)
        self.bind_outputs([o.name for o in proto.output])
        remove_unused(self.graph)
        verify(self.graph)
        return self.graph

    def _operand(self, name: str, loc: str) -> Operand | None:
        if not name:
            return None
        if name not in self.env:
            raise OnnxLoadError(f"value {name!r} is used before it is defined", loc=loc)
        return self.env[name]

    def convert_node(self, index: int, proto: onnx.NodeProto, used: set[str]) -> None:
        loc = node_loc(proto, index)
        domain = "" if proto.domain in ("", "ai.onnx") else proto.domain
        entry = CONVERTERS.get((domain, proto.op_type))
        version = schema_version(proto.op_type, domain, self.loaded.opsets)
        inputs = [self._operand(name, loc) for name in proto.input]
        wanted = [bool(name) and name in used for name in proto.output]
        node = OnnxNode(proto, loc, version or 0, inputs, wanted)
        self.builder.start_node(loc, next((n for n in proto.output if n), loc))
        try:
            if entry is None:  # no converter: a constant computation (see folding)
                results = list(fold_with_reference(self.builder, node, self.loaded.opset))
            else:
                results = list(entry.fn(self.builder, node))
        except NanographError as err:
            raise _located(err, proto.op_type, loc) from None
        for i, name in enumerate(proto.output):
            result = results[i] if i < len(results) else None
            if result is None:
                if wanted[i]:
                    raise InternalError(f"{proto.op_type} converter gave no output {i}", loc=loc)
                continue
            self.env[name] = self._adopt(result, name)

    def _adopt(self, result: Operand, name: str) -> Operand:
        """Give a value made by the current node its ONNX name."""
        if not any(result is made for made in self.builder.created):
            return result
        if isinstance(result, Known):
            result.name = name
        elif result.name != name:
            self.graph.rename(result, self.graph.unique_name(name))
        return result

    def bind_outputs(self, names: list[str]) -> None:
        self.builder.start_node("graph outputs", "output")
        outputs: list[Value] = []
        for name in names:
            if name not in self.env:
                raise OnnxLoadError(f"graph output {name!r} is not computed by any node")
            value = self.builder.value(self.env[name])
            if value.producer is None or any(value is o for o in outputs):
                label = name if name not in {v.name for v in self.graph.inputs} else None
                node = self.graph.create_node(
                    "identity", [value], names=[label or f"{name}.output"], loc="graph output"
                )
                self.graph.append(node)
                value = node.output
            if value.name != name and _free_name(self.graph, name, value):
                self.graph.rename(value, name)
            outputs.append(value)
        self.graph.outputs = outputs


def _warn_defaults(loaded: LoadedOnnx, names: list[str]) -> None:
    """Warn that graph inputs with an initializer are imported as constants (IR >= 4 only:
    before version 4, ONNX required every initializer to be listed as an input)."""
    if not names or loaded.model.ir_version < 4:
        return
    shown = ", ".join(repr(n) for n in names[:5])
    if len(names) > 5:
        shown += f" and {len(names) - 5} more"
    warnings.warn(
        f"{loaded.source}: {len(names)} graph input(s) also have an initializer, which ONNX "
        f"treats as a default that a caller may override: {shown}; nanograph imports them as "
        "constants holding the initializer (they cannot be fed), as onnxruntime's get_inputs() "
        "also leaves them out; to feed one, remove its initializer from the model "
        "(to silence this, remove the names from the graph inputs)",
        OnnxImportWarning,
        stacklevel=2,
    )


def _free_name(graph: Graph, name: str, keep: Value) -> bool:
    """Move whatever value holds ``name`` (other than ``keep``) out of the way; False if
    a graph input holds it (an ONNX output that is also an input keeps another name)."""
    holder = next((v for v in graph.values() if v.name == name and v is not keep), None)
    if holder is None:
        return True
    if any(holder is i for i in graph.inputs):
        return False
    graph.rename(holder, graph.unique_name(f"{name}.moved"))
    return True


def _located(err: NanographError, op_type: str, loc: str) -> NanographError:
    message = err.message if err.message.startswith(op_type) else f"{op_type}: {err.message}"
    return type(err)(message, loc=err.loc or loc, hint=err.hint)


def remove_unused(graph: Graph) -> None:
    """Remove nodes and constants that no graph output depends on."""
    outputs = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.remove(node)
    for name in [n for n, v in graph.constants.items() if not v.uses and id(v) not in outputs]:
        graph.remove_constant(name)


def convert(loaded: LoadedOnnx) -> Graph:
    """The verified IR graph of a loaded ONNX model (see module docstring)."""
    return _Converter(loaded).run()


__all__ = ["convert", "input_type", "live_nodes", "remove_unused", "symbol_name"]
