"""The planned executor's kernels: ``EXECUTOR_KERNELS`` maps op names to ``Kernel``s
(``backends/planned/kernel.py``: write into preallocated outputs, say the scratch
needed, never allocate what grows with the batch).

One file per concept: ``elementwise`` (unary, binary, compare, logic),
``activations`` and ``gelu`` (the activation chains, fast erf), ``matmul``
(matmul, linear + bias + activation), ``conv`` and ``conv_geometry`` (conv2d,
fused_conv2d), ``pooling``, ``normalization`` (softmax, layer_norm,
batch_norm), ``attention`` (the blocked kernel on workspace), ``shape`` (data
movement, cast, where), ``reductions``; ``workspace`` carves scratch,
``windows`` clips window taps to their input, and ``reference_copy`` is the
fallback a kernel uses for cases it does not specialise (float16 GEMMs and
convolutions, integer division, reflect/edge padding). Ops without a kernel
here (the view ops reshape, flatten, squeeze, unsqueeze, which the executor
aliases) run their reference.

State: none per call. Plans that depend only on shapes and attributes (a
convolution's geometry, a pool's clipped taps and divisor grid, a slice's
index) are cached by (shapes, ``Attrs``) in ``functools.lru_cache`` tables,
which hold those immutable keys and read-only results, never an array
argument; kernels are safe to call from several threads on distinct outputs
and workspaces.
"""

from __future__ import annotations

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels import (
    attention,
    conv,
    elementwise,
    matmul,
    normalization,
    pooling,
    reductions,
    shape,
)


def _merge(*tables: dict[str, Kernel]) -> dict[str, Kernel]:
    merged: dict[str, Kernel] = {}
    for table in tables:
        for name, kernel in table.items():
            if name in merged:
                raise ValueError(f"two executor kernels for op {name!r}")
            merged[name] = kernel
    return merged


EXECUTOR_KERNELS: dict[str, Kernel] = _merge(
    elementwise.KERNELS,
    matmul.KERNELS,
    conv.KERNELS,
    pooling.KERNELS,
    normalization.KERNELS,
    attention.KERNELS,
    shape.KERNELS,
    reductions.KERNELS,
)

__all__ = ["EXECUTOR_KERNELS"]
