"""GEMM kernels: ``matmul``, and ``linear`` with its bias and activation applied in place
on the GEMM output.

``np.matmul(..., out=)`` calls BLAS (sgemm for float32) straight into the output
view, broadcasting batch dims as the op does. ``linear`` runs over blocks of rows
of the flattened ``[rows, out]`` output, each about ``ELEMENTWISE_BLOCK``
elements: GEMM, ``+= b``, activation, so the block is still in cache when the
bias and activation pass over it. Its scratch is the activation's, one block.

Results differ from the reference by summation order and precision only: BLAS
accumulates in the input dtype (float32), the reference in float64. Float16 runs
the reference (``reference_into``): NumPy has no float16 BLAS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.activations import activate, activation_bytes
from nanograph.backends.planned.kernels.reference_copy import reference_into
from nanograph.backends.planned.kernels.workspace import (
    ELEMENTWISE_BLOCK,
    Carver,
    static_shape,
)
from nanograph.ir.attrs import Attrs
from nanograph.ir.types import DType, TensorType


def _matmul(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    a, b = inputs
    if a.dtype == np.float16:
        reference_into("matmul", inputs, attrs, outputs)
        return
    np.matmul(a, b, out=outputs[0])


def _rows_per_block(n_out: int) -> int:
    return max(1, ELEMENTWISE_BLOCK // max(n_out, 1))


def _linear_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    if ins[0].dtype != DType.f32:
        return 0
    shape = static_shape(outs[0])
    n_out = shape[-1]
    rows = min(_rows_per_block(n_out), int(np.prod(shape[:-1], dtype=np.int64)))
    return activation_bytes(attrs["activation"], rows * n_out)


def _linear(
    inputs: Sequence[np.ndarray],
    attrs: Attrs,
    outputs: Sequence[np.ndarray],
    ws: np.ndarray | None,
) -> None:
    x, w = inputs[0], inputs[1]
    if x.dtype != np.float32:
        reference_into("linear", inputs, attrs, outputs)
        return
    bias = inputs[2] if len(inputs) > 2 else None
    activation = attrs["activation"]
    n_in, n_out = w.shape
    out = outputs[0]
    if activation == "none":  # one GEMM, one bias pass: nothing to keep in cache between
        np.matmul(x, w, out=out)
        if bias is not None:
            np.add(out, bias, out=out)
        return
    x2, out2 = x.reshape(-1, n_in), outputs[0].reshape(-1, n_out)
    step = _rows_per_block(n_out)
    for start in range(0, out2.shape[0], step):
        rows = slice(start, start + step)
        block = out2[rows]
        np.matmul(x2[rows], w, out=block)
        if bias is not None:
            np.add(block, bias, out=block)
        if activation != "none":
            activate(activation, block, block, Carver(ws))


KERNELS: dict[str, Kernel] = {
    "matmul": Kernel("matmul", _matmul),
    "linear": Kernel("linear", _linear, _linear_workspace),
}

__all__ = ["KERNELS"]
