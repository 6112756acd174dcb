"""Converters of ``MatMul`` and ``Gemm``.

``MatMul`` has NumPy semantics in ONNX and in the IR. ``Gemm`` is
``alpha * op(A) @ op(B) + beta * C`` with ``op`` a transpose where
``transA``/``transB`` say; it becomes ``transpose``/``matmul``/``mul``/``add``,
leaving out the multiplications by 1 (a constant weight's transpose folds into
the constant at import).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one


@converter("MatMul", versions=(13,))
def convert_matmul(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(b.op("matmul", node.require(0), node.require(1)))


def _scaled(b: Builder, x: Operand, factor: float) -> Operand:
    if factor == 1.0:
        return x
    return b.op("mul", x, b.const(np.array(factor, dtype=x.type.dtype.numpy)))


@converter("Gemm", versions=(13,))
def convert_gemm(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    a, w = node.require(0, "A"), node.require(1, "B")
    for name, value in (("A", a), ("B", w)):
        if value.type.rank != 2:
            raise node.refuse(f"{name} must be a matrix, got {value.type}")
    if node.attr("transA", 0):
        a = b.op("transpose", a, perm=(1, 0))
    if node.attr("transB", 0):
        w = b.op("transpose", w, perm=(1, 0))
    y = _scaled(b, b.op("matmul", a, w), float(node.attr("alpha", 1.0)))
    c = node.input(2)
    beta = float(node.attr("beta", 1.0))
    if c is not None and beta != 0.0:
        y = b.op("add", y, _scaled(b, c, beta))
    return one(y)
