"""Put GELU back together from its formula: ``recognize-gelu``.

    x * 0.5 * (1 + erf(x / sqrt(2)))                                -> gelu(x)
    x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))         -> gelu(x, approximate="tanh")

Exporters without a GELU op (ONNX below opset 20, PyTorch's classic
exporter, hand-written models) write it out like this, in several
arrangements, all recognized:

- the erf argument as ``x / 1.4142135`` or ``x * 0.70710678``;
- the cube as ``pow(x, 3)``, ``x * (x * x)`` or ``(x * x) * x``;
- the half as ``(x * (1 + phi)) * 0.5`` (PyTorch), ``(x * 0.5) * (1 + phi)``
  (Hugging Face; nanograph's own exporter), ``x * ((1 + phi) * 0.5)``,
  ``(x * (1 + phi)) / 2`` or ``(x / 2) * (1 + phi)``;
- every operand order of ``add`` and ``mul`` (the matcher commutes them).

Contracts:
- Constants match within a relative ``max(1e-5, 2 * eps(dtype))``: an f32
  constant printed with 6 significant digits (0.707107) is within 1e-5 of
  the true value, and rounding to f16 moves one by up to half an f16 ulp
  (4.9e-4 relative). Any other value is a near miss naming the constant.
- The result must have ``x``'s type (a constant that broadcasts ``x`` to a
  bigger shape is refused) and ``x`` must be a float tensor.
- Near misses are reported only once the ``erf``/``tanh`` has matched (the
  rule's ``min_near_miss``), so a stray ``mul`` is not news.
- Constants the rewrites leave unused are removed (``dead constants``).
- Numerics: ``gelu``'s reference computes the same formula in float64; the
  decomposed graph rounds to float32 after every op, so results agree to a
  few float32 ulps.
"""

from __future__ import annotations

import math

import numpy as np

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Graph, Value
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import (
    EitherPattern,
    Match,
    Pattern,
    ValuePattern,
    either,
    op,
    such_that,
    var,
)
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Rule, apply_rules

SQRT_2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
TANH_CUBIC = 0.044715


def about(value: float) -> ValuePattern:
    """A one-element float constant equal to ``value`` within max(1e-5, 2 eps(dtype)), relative."""

    def holds(v: Value) -> bool:
        data = v.const
        if not v.is_const or data is None or data.size != 1 or data.dtype.kind != "f":
            return False
        rtol = max(1e-5, 2 * float(np.finfo(data.dtype).eps))
        return bool(np.isclose(float(data.reshape(())), value, rtol=rtol, atol=0.0))

    return var(None, such_that(holds, f"is not a one-element float constant = {value:.8g}"))


def _half_x_times(x: Pattern, one_plus_phi: Pattern) -> EitherPattern:
    """``0.5 * x * one_plus_phi``, in each arrangement the exporters write."""
    return either(
        op.mul(op.mul(x, one_plus_phi), about(0.5)),  # (x * (1 + phi)) * 0.5
        op.mul(op.mul(x, about(0.5)), one_plus_phi),  # (x * 0.5) * (1 + phi)
        op.mul(x, op.mul(one_plus_phi, about(0.5))),  # x * ((1 + phi) * 0.5)
        op.div(op.mul(x, one_plus_phi), about(2.0)),  # (x * (1 + phi)) / 2
        op.mul(op.div(x, about(2.0)), one_plus_phi),  # (x / 2) * (1 + phi)
    )


_x = var("x")
_scaled_x = either(op.div(_x, about(SQRT_2)), op.mul(_x, about(1.0 / SQRT_2)))
_gelu_erf = _half_x_times(_x, op.add(op.erf(_scaled_x), about(1.0)))

_cube = either(op.pow(_x, about(3.0)), op.mul(_x, op.mul(_x, _x)))
_inner = op.mul(op.add(_x, op.mul(_cube, about(TANH_CUBIC))), about(SQRT_2_OVER_PI))
_gelu_tanh = _half_x_times(_x, op.add(op.tanh(_inner), about(1.0)))


def _keeps_type_of_x(m: Match) -> str | None:
    x, y = m["x"], m.root.outputs[0]
    if not x.type.dtype.is_float:
        return f"%{x.name} is {x.type}; gelu takes float tensors"
    if y.type != x.type:
        return f"its constants broadcast %{x.name}: {x.type} to {y.type}, which gelu(x) cannot"
    return None


def _gelu_erf_form(m: Match, em: GraphEmitter) -> list[Value]:
    return [em.op("gelu", m["x"])]


def _gelu_tanh_form(m: Match, em: GraphEmitter) -> list[Value]:
    return [em.op("gelu", m["x"], approximate="tanh")]


# min_near_miss=4: the outer mul (or div), the inner mul, the add and the erf/tanh.
gelu_rules: tuple[Rule, ...] = (
    Rule("erf-form->gelu", _gelu_erf, _gelu_erf_form, (_keeps_type_of_x,), min_near_miss=4),
    Rule("tanh-form->gelu", _gelu_tanh, _gelu_tanh_form, (_keeps_type_of_x,), min_near_miss=4),
)


def recognize_gelu(graph: Graph) -> PassResult:
    """Replace GELU written out with erf or tanh by one gelu node."""
    return apply_rules(graph, gelu_rules, free_constants=True)


RECOGNIZE_GELU = Pass("recognize-gelu", recognize_gelu)

__all__ = ["RECOGNIZE_GELU", "about", "gelu_rules", "recognize_gelu"]
