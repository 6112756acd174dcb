"""Activations written into a given output, ``out`` possibly being ``x`` itself.

The same functions serve the unary elementwise kernels (``relu``, ``gelu``, ...)
and the fused ops' ``activation`` attribute (``linear``, ``fused_conv2d``), which
apply them in place on their GEMM output. Names are ``ACTIVATIONS`` of
``nanograph.ir.ops.fused``: none, relu, relu6, gelu, gelu_tanh, silu, sigmoid,
tanh.

``activation_bytes(name, numel)`` is the scratch an activation needs for ``numel``
float32 elements (blocks of ``ELEMENTWISE_BLOCK``, never a whole batch), and
``activate(name, x, out, carver)`` takes that scratch from ``carver``. Arrays are
float32 and C-contiguous, ``x`` and ``out`` of one shape.

Formulas (each the op's meaning, rounded differently from the float64 reference):
sigmoid is ``0.5 tanh(x / 2) + 0.5`` (no overflow, 4 passes; ``tanh`` runs
faster than ``exp`` in NumPy's SIMD loops here), silu ``x * sigmoid(x)``, the
GELUs as in ``gelu.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nanograph.backends.planned.kernels import gelu
from nanograph.backends.planned.kernels.workspace import (
    Carver,
    block_scratch,
    block_scratch_bytes,
    flat_blocks,
)

ActivationFn = Callable[[np.ndarray, np.ndarray, Carver], None]


def _none(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    if not np.may_share_memory(x, out):
        np.copyto(out, x)


def _relu(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    np.maximum(x, 0.0, out=out)


def _relu6(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    np.clip(x, 0.0, 6.0, out=out)


def _tanh(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    np.tanh(x, out=out)


def sigmoid_into(x: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-x)) as 0.5 tanh(x / 2) + 0.5 (out may be x)."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    np.multiply(out, 0.5, out=out)
    np.add(out, 0.5, out=out)


def _sigmoid(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    sigmoid_into(x, out)


def _silu(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    (t,) = block_scratch(carver, x.size, 1)
    xf, of = x.reshape(-1), out.reshape(-1)
    for s in flat_blocks(xf.size):
        tb = t[: s.stop - s.start]
        sigmoid_into(xf[s], tb)
        np.multiply(xf[s], tb, out=of[s])


def _gelu(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    gelu.gelu_into(x, out, block_scratch(carver, x.size, gelu.ERF_SCRATCH))


def _gelu_tanh(x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    gelu.gelu_tanh_into(x, out, block_scratch(carver, x.size, gelu.TANH_SCRATCH))


ACTIVATION_FNS: dict[str, ActivationFn] = {
    "none": _none,
    "relu": _relu,
    "relu6": _relu6,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "silu": _silu,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
}


def activation_bytes(name: str, numel: int) -> int:
    """Workspace bytes ``activate(name, ...)`` takes for ``numel`` elements."""
    arrays = {"gelu": gelu.ERF_SCRATCH, "gelu_tanh": gelu.TANH_SCRATCH, "silu": 1}
    return block_scratch_bytes(numel, arrays[name]) if name in arrays else 0


def activate(name: str, x: np.ndarray, out: np.ndarray, carver: Carver) -> None:
    """out = name(x), scratch from ``carver`` (``activation_bytes(name, x.size)`` of it)."""
    ACTIVATION_FNS[name](x, out, carver)


__all__ = ["ACTIVATION_FNS", "activate", "activation_bytes", "sigmoid_into"]
