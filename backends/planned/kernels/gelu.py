"""GELU and erf from vectorised float32 approximations, in blocks of scratch.

The reference computes erf with ``math.erf`` element by element (about 100 ns an
element); these run a fixed chain of whole-array NumPy passes over blocks of at
most ``ELEMENTWISE_BLOCK`` elements:

- ``erf`` and GELU's erf form use Abramowitz & Stegun 7.1.26 for a >= 0:
  ``erfc(a) = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-a^2)``,
  ``t = 1 / (1 + p a)``, absolute error at most 1.5e-7 in exact arithmetic.
  Then ``erf(x) = sign(x) (1 - erfc(|x|))``: absolute error <= 7e-7 in float32
  (5.4e-7 measured, near x = 0 where rounding erfc ~ 1 dominates). With
  ``E = erfc(|x| / sqrt 2) / 2``, ``gelu(x) = x Phi(x) = max(x, 0) - |x| E``
  (for x >= 0, ``x (1 - E)``; for x < 0, ``x E``): no cancellation in the
  negative tail; absolute error <= ``|x| * 2.5e-7`` + 2 ulp (3.3e-7 at most
  for |x| <= 12); E is 0 in float32 beyond |x| = 15.
- the tanh form ``0.5 x (1 + tanh(u))``, ``u = sqrt(2/pi) (x + 0.044715 x^3)``,
  is computed as ``x / (1 + exp(-2u))`` (the same function), 7 passes.

Measured (float32, 266k elements, one core of the 2-core EPYC, shared): the erf
form 0.8-1.3 ms, the tanh form 0.3-0.6 ms; ``scipy.special.erf`` alone takes
5.7 ms on the same array (scipy 1.17, not a dependency: installed aside only
to measure it), so there is no scipy path.

Non-finite inputs, as the reference, onnxruntime and PyTorch: NaN gives NaN;
gelu(+inf) = inf, erf(+-inf) = +-1, and gelu(-inf) = NaN (``-inf * 0``; the
limit would be 0, but a kernel that disagrees with the reference there is a
silent divergence, and the extra pass that keeps them equal costs 6% of GELU:
1.45 -> 1.54 ms on 532k elements, one thread).

Every function here takes float32 arrays and scratch blocks (``block_scratch``
of ``workspace.py``: ``ERF_SCRATCH`` or ``TANH_SCRATCH`` of them); ``out`` may
be ``x`` (each block's last pass is the only one writing ``out``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nanograph.backends.planned.kernels.workspace import flat_blocks

P = 0.3275911
A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
"""Abramowitz & Stegun 7.1.26: p and a1..a5."""
E_CUTOFF = 15.0
"""|x| beyond which GELU's erfc term is 0 in float32 (exp(-x^2/2) underflows)."""
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
ERF_SCRATCH = 3
"""Scratch blocks ``erf_into`` and ``gelu_into`` use; ``gelu_tanh_into`` uses 1."""
TANH_SCRATCH = 1


def _scaled_erfc(a: np.ndarray, e: np.ndarray, t: np.ndarray, c: float, k: float) -> None:
    """e = k * erfc(c * a) for a >= 0 (15 passes; t is clobbered)."""
    inverse = 1.0 / (P * c)  # t = 1 / (1 + p c a) = inverse / (a + inverse): two passes
    np.add(a, inverse, out=t)
    np.divide(inverse, t, out=t)
    np.multiply(t, k * A[4], out=e)
    for coefficient in (A[3], A[2], A[1], A[0]):
        np.add(e, k * coefficient, out=e)
        np.multiply(e, t, out=e)
    np.multiply(a, a, out=t)
    np.multiply(t, -c * c, out=t)
    np.exp(t, out=t)
    np.multiply(e, t, out=e)


def erf_into(x: np.ndarray, out: np.ndarray, work: Sequence[np.ndarray]) -> None:
    """out = erf(x), absolute error <= 7e-7 (A&S 7.1.26 and float32 rounding)."""
    xf, of = x.reshape(-1), out.reshape(-1)
    with np.errstate(over="ignore"):  # |x|^2 = inf for huge x: exp(-inf) = 0, erf = +-1
        for s in flat_blocks(xf.size):
            xb, n = xf[s], s.stop - s.start
            a, e, t = (w[:n] for w in work)
            np.abs(xb, out=a)
            _scaled_erfc(a, e, t, 1.0, 1.0)
            np.subtract(1.0, e, out=e)
            np.copysign(e, xb, out=of[s])


def gelu_into(x: np.ndarray, out: np.ndarray, work: Sequence[np.ndarray]) -> None:
    """out = x * Phi(x) (erf form), absolute error <= |x| * 2.5e-7 + 2 ulp."""
    xf, of = x.reshape(-1), out.reshape(-1)
    for s in flat_blocks(xf.size):
        xb, n = xf[s], s.stop - s.start
        a, e, t = (w[:n] for w in work)
        np.abs(xb, out=a)
        np.minimum(a, E_CUTOFF, out=a)  # so that |x| * E is 0, not inf * 0, at infinities
        _scaled_erfc(a, e, t, 1.0 / math.sqrt(2.0), 0.5)
        np.multiply(e, a, out=e)
        # max(x, 0) as x - min(x, 0): the same for finite x, and NaN at x = -inf
        # (-inf - -inf), as the reference's -inf * Phi(-inf) = -inf * 0 gives
        np.minimum(xb, 0.0, out=t)
        np.subtract(xb, t, out=t)
        np.subtract(t, e, out=of[s])


def gelu_tanh_into(x: np.ndarray, out: np.ndarray, work: Sequence[np.ndarray]) -> None:
    """out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as x / (1 + exp(-2u))."""
    xf, of = x.reshape(-1), out.reshape(-1)
    c1 = -2.0 * SQRT_2_OVER_PI * 0.044715
    c0 = -2.0 * SQRT_2_OVER_PI
    # exp(-2u) = inf for very negative x (x / inf = -0); -inf / inf = NaN as in the reference
    with np.errstate(over="ignore", invalid="ignore"):
        for s in flat_blocks(xf.size):
            xb = xf[s]
            t = work[0][: s.stop - s.start]
            np.multiply(xb, xb, out=t)
            np.multiply(t, c1, out=t)
            np.add(t, c0, out=t)
            np.multiply(t, xb, out=t)
            np.exp(t, out=t)
            np.add(t, 1.0, out=t)
            np.divide(xb, t, out=of[s])


__all__ = [
    "ERF_SCRATCH",
    "TANH_SCRATCH",
    "erf_into",
    "gelu_into",
    "gelu_tanh_into",
]
