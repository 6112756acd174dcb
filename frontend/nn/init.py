"""Deterministic weight initialisation.

All modules draw their initial weights from one generator, so a model built
after ``manual_seed(s)`` is the same on every machine. The schemes follow
PyTorch's defaults (uniform in +-1/sqrt(fan_in)), not its random stream.
"""

from __future__ import annotations

import math

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reset the generator that initial weights are drawn from."""
    global _generator
    _generator = np.random.default_rng(seed)


def uniform(shape: tuple[int, ...], bound: float) -> np.ndarray:
    return _generator.uniform(-bound, bound, size=shape).astype(np.float32)


def normal(shape: tuple[int, ...], std: float) -> np.ndarray:
    return (_generator.standard_normal(shape) * std).astype(np.float32)


def fan_in_uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """PyTorch's default for Linear/Conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return uniform(shape, 1.0 / math.sqrt(max(fan_in, 1)))
