"""The state of one export: ONNX nodes and initializers emitted so far, and their names.

Naming contract (what a person sees in Netron or an error message):
- every IR value keeps its name; an IR node's last ONNX node writes the IR
  output names, and every ONNX node is named after its first output;
- helper values (transposes around a layout, mask fitting, ...) are named
  ``{ir output}.{OnnxOp}``, symbolic dims ``dim.{text}.{OnnxOp}``, all made
  unique against every other name;
- every node's ``doc_string`` is the IR node's ``loc`` (the user's
  ``file:line``), so errors from onnxruntime lead back to the model's source;
  a dim's helpers say where the dim is read (``dim S: axis 1 of input x``).

Small helper constants (at most ``DEDUP_LIMIT`` elements) are shared and
named by their value (``i64[0,0,4,16]``, ``f32(0.5)``): the same array is one
initializer however often it is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nanograph.backends.onnx_export.dims import DimMaterializer
from nanograph.ir.dims import Dim
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.types import DType

DEDUP_LIMIT = 16
MS_DOMAIN = "com.microsoft"

ONNX_DTYPES: dict[DType, int] = {
    DType.f32: onnx.TensorProto.FLOAT,
    DType.f16: onnx.TensorProto.FLOAT16,
    DType.i64: onnx.TensorProto.INT64,
    DType.i32: onnx.TensorProto.INT32,
    DType.bool: onnx.TensorProto.BOOL,
}


class ExportContext:
    """Collects the ONNX nodes and helper initializers of one graph's export.

    ``opset`` is the default-domain opset; ``attention`` the resolved
    attention lowering (``onnx``, ``ms`` or ``plain``). Lowering functions
    call ``emit`` inside ``lowering(node)`` so names and ``doc_string``
    follow the node being lowered.
    """

    def __init__(self, graph: Graph, opset: int, attention: str) -> None:
        self.graph = graph
        self.opset = opset
        self.attention = attention
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.domains: set[str] = set()
        self._used: set[str] = {v.name for v in graph.values()}
        self._shared: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        self.loc = ""
        self.prefix = graph.name
        self.dims: DimMaterializer = DimMaterializer(self, graph)

    # naming and location ----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ...: a name no value or initializer has."""
        name, i = base, 0
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    @contextlib.contextmanager
    def lowering(self, node: Node) -> Iterator[None]:
        """Emit on behalf of ``node``: its loc as doc_string, its first output as name base."""
        with self.located(node.loc, node.outputs[0].name):
            yield

    @contextlib.contextmanager
    def located(self, loc: str, prefix: str) -> Iterator[None]:
        saved = self.loc, self.prefix
        self.loc, self.prefix = loc, prefix
        try:
            yield
        finally:
            self.loc, self.prefix = saved

    # nodes --------------------------------------------------------------------------------
    def emit(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str] | int = 1,
        *,
        domain: str = "",
        **attrs: Any,
    ) -> list[str]:
        """Append one ONNX node; ``outputs`` are names, or a count of fresh helper names.

        Attributes whose value is None are left out (ONNX defaults apply).
        """
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{self.prefix}.{op_type}") for _ in range(outputs)]
        given = {k: v for k, v in attrs.items() if v is not None}
        node = helper.make_node(
            op_type, list(inputs), list(outputs), name=outputs[0], domain=domain or None, **given
        )
        if self.loc:
            node.doc_string = self.loc
        if domain:
            self.domains.add(domain)
        self.nodes.append(node)
        return list(outputs)

    def emit1(
        self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs: Any
    ) -> str:
        """``emit`` of a one-output node; its output name (``out`` or a fresh helper name)."""
        return self.emit(op_type, inputs, [out] if out is not None else 1, **attrs)[0]

    # constants ----------------------------------------------------------------------------
    def const(self, array: np.ndarray, what: str = "const") -> str:
        """A helper initializer holding ``array``.

        Small arrays are shared and named by their value (``i64[0,0,4,16]``,
        ``f32(0.5)``), since one may serve many nodes; others are named
        ``{node}.{what}``.
        """
        array = np.asarray(array)
        if array.size > DEDUP_LIMIT:
            name = self.fresh(f"{self.prefix}.{what}")
            self.initializers.append(numpy_helper.from_array(array, name))
            return name
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._shared:
            name = self.fresh(_value_name(array))
            self.initializers.append(numpy_helper.from_array(array, name))
            self._shared[key] = name
        return self._shared[key]

    def i64s(self, values: Sequence[int], what: str = "const") -> str:
        """A 1-D int64 constant."""
        return self.const(np.array(list(values), dtype=np.int64), what)

    def scalar(self, value: float, dtype: DType, what: str = "const") -> str:
        """A 0-d constant of ``dtype``."""
        return self.const(np.array(value, dtype=dtype.numpy), what)

    def shape(self, dims: Sequence[Dim], what: str = "shape") -> str:
        """An i64 [len(dims)] tensor of ``dims``: a constant, or computed at run time."""
        return self.dims.shape(dims, what)

    # IR values ----------------------------------------------------------------------------
    @staticmethod
    def names(values: Sequence[Value]) -> list[str]:
        return [v.name for v in values]


def _value_name(array: np.ndarray) -> str:
    """``i64[0,0,4,16]`` for a 1-D array, ``f32(0.5)`` for a 0-d one (small arrays only)."""
    dtype = str(DType.parse(array.dtype))
    values = ",".join(str(v) for v in array.reshape(-1).tolist())
    if array.ndim == 0:
        return f"{dtype}({values})"
    shape = "x".join(str(n) for n in array.shape)
    return f"{dtype}[{values}]" if array.ndim == 1 else f"{dtype}<{shape}>[{values}]"


__all__ = ["MS_DOMAIN", "ONNX_DTYPES", "ExportContext"]
