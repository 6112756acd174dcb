"""The op's reference, its results copied into the outputs: the kernels' fallback for
the cases they do not specialise (float16 GEMMs and convolutions, integer division,
reflect and edge padding).

It allocates the reference's results on every call, so no zoo model should reach it
in steady state; the kernels say where they use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.ops import get_op


def reference_into(
    op: str, inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray]
) -> None:
    """Run ``op``'s reference on ``inputs`` and copy each result into ``outputs``."""
    results = get_op(op).reference(list(inputs), attrs)
    for out, result in zip(outputs, results, strict=True):
        np.copyto(out, result)


__all__ = ["reference_into"]
