"""Assembling the ``ModelProto``: typed inputs/outputs/value_info, initializers, metadata.

- Types: our dtypes map to ONNX element types; an int dim is ``dim_value``, a
  symbolic one ``dim_param`` holding its text (``N``, ``S+1``, ``(H-3)//2+1``),
  on graph inputs, outputs and every intermediate IR value (``value_info``).
  Graph outputs keep their names even when one is a graph input, a constant
  or listed twice (onnx.checker and onnxruntime accept all three).
- Initializers: the graph's used constants under their own names, then the
  exporter's helper constants.
- ``opset_import``: the default domain at the requested opset, and
  ``com.microsoft`` (version 1) only when a node uses it; ``ir_version`` is
  the lowest that supports those opsets, so older runtimes load the file.
- ``producer_name``/``producer_version``, the graph name, and
  ``metadata_props`` (``nanograph.*`` keys: the source graph, the attention
  lowering, and whatever the caller adds).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata as importlib_metadata

import onnx
from onnx import helper, numpy_helper

from nanograph.backends.onnx_export.context import ONNX_DTYPES, ExportContext
from nanograph.ir.errors import InternalError, VerificationError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType


def nanograph_version() -> str:
    try:
        return importlib_metadata.version("nanograph")
    except importlib_metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    """``name: t`` with symbolic dims as ``dim_param`` (their text)."""
    dims = [d if isinstance(d, int) else str(d) for d in t.shape]
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], dims)


def _initializers(graph: Graph) -> list[onnx.TensorProto]:
    outputs = {id(v) for v in graph.outputs}
    used = [v for v in graph.constants.values() if v.uses or id(v) in outputs]
    missing = [v for v in used if v.const is None]
    if missing:
        shown = ", ".join(f"@{v.name}: {v.type}" for v in missing)
        raise VerificationError(
            f"cannot export graph {graph.name}: constant(s) {shown} have no data",
            hint="attach the arrays (load the weights) before exporting",
        )
    return [numpy_helper.from_array(v.const, v.name) for v in used if v.const is not None]


def _value_infos(graph: Graph) -> list[onnx.ValueInfoProto]:
    outputs = {id(v) for v in graph.outputs}
    return [
        value_info(v.name, v.type)
        for node in graph.nodes
        for v in node.outputs
        if id(v) not in outputs
    ]


def build_model(
    graph: Graph, ctx: ExportContext, producer: str, metadata: Mapping[str, str]
) -> onnx.ModelProto:
    """The model of the lowered ``graph`` (nodes and helpers in ``ctx``)."""
    body = helper.make_graph(
        ctx.nodes,
        graph.name,
        [value_info(v.name, v.type) for v in graph.inputs],
        [value_info(v.name, v.type) for v in graph.outputs],
        initializer=[*_initializers(graph), *ctx.initializers],
        value_info=_value_infos(graph),
    )
    opsets = [helper.make_opsetid("", ctx.opset)]
    opsets += [helper.make_opsetid(d, 1) for d in sorted(ctx.domains)]
    model = helper.make_model(
        body,
        opset_imports=opsets,
        producer_name=producer,
        producer_version=nanograph_version(),
    )
    model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    helper.set_model_props(model, {"nanograph.graph": graph.name, **metadata})
    return model


def check(model: onnx.ModelProto) -> None:
    """``onnx.checker`` with ``full_check`` (strict shape inference); a failure is our bug."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise InternalError(
            f"internal error: the exported model fails onnx.checker: {err}",
            hint="please report this with the model; --attention plain or another --opset "
            "may avoid the failing lowering",
        ) from err


__all__ = ["build_model", "check", "nanograph_version", "value_info"]
