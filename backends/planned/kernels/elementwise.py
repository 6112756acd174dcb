"""Elementwise kernels: unary math and activations, broadcasting binary ops, comparisons
and logic, each one NumPy ufunc call (or an activation chain) writing into the output.

All are safe in place where the op allows it (``out`` may be an input that
``OpDef.inplace`` names: ufuncs read each element before writing it). Binary
ops broadcast as NumPy does, which is the ops' meaning. Where the reference
silences floating-point warnings that finite inputs raise (``exp``, ``log``,
``div``, ...) so do the kernels; warnings from inf/NaN arithmetic in ``add``
and the like are left to the executor (one ``np.errstate`` per call costs
less than one per kernel).

Falls back to the reference (``reference_into``): integer ``div`` (it truncates
and checks for zero divisors) and ``gelu``/``silu``/``erf`` on float16 (their
chains run in float32 scratch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels import gelu
from nanograph.backends.planned.kernels.activations import activate, activation_bytes
from nanograph.backends.planned.kernels.reference_copy import reference_into
from nanograph.backends.planned.kernels.workspace import (
    Carver,
    block_scratch,
    block_scratch_bytes,
    static_numel,
)
from nanograph.ir.attrs import Attrs
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType, TensorType

Ufunc = Callable[..., np.ndarray]


def _ufunc_kernel(op: str, fn: Ufunc, *, quiet: bool = False) -> Kernel:
    """``fn(*inputs, out=outputs[0])``; ``quiet`` silences floating-point warnings.
    In place wherever the op allows it (comparisons change dtype: never)."""

    def run(
        inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
    ) -> None:
        if quiet:
            with np.errstate(all="ignore"):
                fn(*inputs, out=outputs[0])
        else:
            fn(*inputs, out=outputs[0])

    return Kernel(op, run, inplace_safe=bool(get_op(op).inplace))


def _activation_kernel(op: str, activation: Callable[[Attrs], str]) -> Kernel:
    """An activation of ``activations.py`` (float32; float16 runs the reference)."""

    def workspace_bytes(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
        if ins[0].dtype != DType.f32:
            return 0
        return activation_bytes(activation(attrs), static_numel(ins[0]))

    def run(
        inputs: Sequence[np.ndarray],
        attrs: Attrs,
        outputs: Sequence[np.ndarray],
        ws: np.ndarray | None,
    ) -> None:
        if inputs[0].dtype != np.float32:
            reference_into(op, inputs, attrs, outputs)
            return
        activate(activation(attrs), inputs[0], outputs[0], Carver(ws))

    return Kernel(op, run, workspace_bytes, inplace_safe=True)


def _erf_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    if ins[0].dtype != DType.f32:
        return 0
    return block_scratch_bytes(static_numel(ins[0]), gelu.ERF_SCRATCH)


def _erf(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    x = inputs[0]
    if x.dtype != np.float32:
        reference_into("erf", inputs, attrs, outputs)
        return
    gelu.erf_into(x, outputs[0], block_scratch(Carver(ws), x.size, gelu.ERF_SCRATCH))


def _clip(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    np.clip(inputs[0], attrs["min"], attrs["max"], out=outputs[0])


def _identity(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    if not np.may_share_memory(inputs[0], outputs[0]):
        np.copyto(outputs[0], inputs[0])


def _div(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    if inputs[0].dtype.kind in "iu":  # truncating, zero-checked: the reference's
        reference_into("div", inputs, attrs, outputs)
        return
    with np.errstate(all="ignore"):
        np.divide(inputs[0], inputs[1], out=outputs[0])


def _gelu_form(attrs: Attrs) -> str:
    return "gelu_tanh" if attrs["approximate"] == "tanh" else "gelu"


_UFUNCS: dict[str, tuple[Ufunc, bool]] = {
    # unary (name: ufunc, silence warnings)
    "relu": (lambda x, out: np.maximum(x, 0, out=out), False),
    "tanh": (np.tanh, False),
    "exp": (np.exp, True),
    "log": (np.log, True),
    "sqrt": (np.sqrt, True),
    "reciprocal": (np.reciprocal, True),
    "neg": (np.negative, False),
    "abs": (np.abs, False),
    "not": (np.logical_not, False),
    # binary
    "add": (np.add, False),
    "sub": (np.subtract, False),
    "mul": (np.multiply, False),
    "pow": (np.power, True),
    "maximum": (np.maximum, False),
    "minimum": (np.minimum, False),
    "equal": (np.equal, False),
    "less": (np.less, False),
    "less_equal": (np.less_equal, False),
    "greater": (np.greater, False),
    "greater_equal": (np.greater_equal, False),
    "and": (np.logical_and, False),
    "or": (np.logical_or, False),
}

KERNELS: dict[str, Kernel] = {
    **{name: _ufunc_kernel(name, fn, quiet=quiet) for name, (fn, quiet) in _UFUNCS.items()},
    "sigmoid": _activation_kernel("sigmoid", lambda a: "sigmoid"),
    "silu": _activation_kernel("silu", lambda a: "silu"),
    "gelu": _activation_kernel("gelu", _gelu_form),
    "erf": Kernel("erf", _erf, _erf_workspace, inplace_safe=True),
    "clip": Kernel("clip", _clip, inplace_safe=True),
    "identity": Kernel("identity", _identity, inplace_safe=True),
    "div": Kernel("div", _div, inplace_safe=True),
}

__all__ = ["KERNELS"]
