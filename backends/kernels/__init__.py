"""Fast NumPy kernels for ops whose reference is written for clarity, not speed.

A kernel has exactly the signature of an ``OpDef.reference`` (``KernelFn``)
and the same meaning: same outputs, dtypes and shapes, NaN where the reference
gives NaN, agreement to floating-point rounding. Each kernel is tested against
its op's reference. ``NUMPY_KERNELS`` maps op names to kernels; an interpreter
given it (``ReferenceInterpreter(graph, kernels=NUMPY_KERNELS)``) calls the
kernel in place of the reference for those ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.backends.kernels.attention import SCORE_BLOCK, attention_kernel
from nanograph.ir.attrs import Attrs

KernelFn = Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]]

NUMPY_KERNELS: dict[str, KernelFn] = {"attention": attention_kernel}

__all__ = ["NUMPY_KERNELS", "SCORE_BLOCK", "KernelFn", "attention_kernel"]
