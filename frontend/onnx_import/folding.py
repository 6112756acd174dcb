"""Ops without a converter, folded when their inputs are constants.

Exporters compute some constants with ops the IR does not have (the classic
PyTorch exporter's ``Mod`` of two ``Constant`` nodes in
``nn.MultiheadAttention``). Such a node does not need a converter when every
input is known at import: ONNX's own reference implementation
(``onnx.reference``) runs it, and its outputs become constants.

- ``constant_nodes(graph, nodes)``: the indices of nodes whose inputs come
  only from initializers, ``Constant`` nodes, ``Shape``/``Size`` (which read
  no data) and other such nodes; only those may be folded, so the unsupported-op
  listing can be made before converting anything;
- ``fold_with_reference(builder, node, opset)``: the node's outputs, computed
  now; an input that turns out not to be static (a symbolic dim) is refused,
  naming the op that has no converter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode
from nanograph.ir.errors import NanographError, UnsupportedOpError

_SHAPE_READERS = ("Shape", "Size")


def constant_nodes(graph: onnx.GraphProto, nodes: Sequence[tuple[int, onnx.NodeProto]]) -> set[int]:
    """Indices of the nodes (among ``nodes``, in order) computed only from constants and shapes."""
    known = {t.name for t in graph.initializer}
    found: set[int] = set()
    for index, node in nodes:
        reads_shape = node.domain in ("", "ai.onnx") and node.op_type in _SHAPE_READERS
        if reads_shape or all(not name or name in known for name in node.input):
            known.update(name for name in node.output if name)
            found.add(index)
    return found


def fold_with_reference(b: Builder, node: OnnxNode, opset: int) -> Sequence[Operand | None]:
    """Run ``node`` (which has no converter) on its constant inputs with ``onnx.reference``."""
    feeds: dict[str, np.ndarray] = {}
    try:
        for name, value in zip(node.proto.input, node.inputs, strict=True):
            if value is not None:
                feeds[name] = b.static(value, f"its input {name!r}")
    except NanographError as err:
        raise UnsupportedOpError(
            f"{node.op_type} has no converter, and nanograph folds it only when its inputs "
            f"are constants: {err.message}",
            loc=node.loc,
            hint="export with this computation constant, or without this op",
        ) from None
    try:
        outputs = ReferenceEvaluator(node.proto, opsets={"": opset}).run(None, feeds)
    except Exception as err:
        raise node.refuse(
            f"folding it with onnx.reference failed: {type(err).__name__}: {err}"
        ) from None
    return [b.const(np.asarray(out)) for out in outputs]


__all__ = ["constant_nodes", "fold_with_reference"]
