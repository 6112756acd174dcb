"""Rules that remove ops which change nothing: ``identity_rules``.

Each rule matches an op that returns its input unchanged and replaces it by
that input:

- ``identity``: ``identity(x)`` (the importer's ONNX ``Identity`` and
  ``Dropout`` leave none; hand-written or rewritten IR may);
- ``reshape-to-same-shape``: ``reshape``/``flatten``/``squeeze``/``unsqueeze``
  of ``x`` to ``x``'s own type (a row-major view to the same shape);
- ``transpose-identity-perm``: ``transpose(x) {perm=[0,1,...]}``;
- ``cast-to-same-dtype``: ``cast(x) {to=x's dtype}``;
- ``expand-to-same-shape``: ``expand(x)`` to ``x``'s own type (nothing broadcast);
- ``slice-whole``: ``slice(x)`` to ``x``'s own type, starting at 0 with step 1
  (every element, in order);
- ``concat-of-one``: ``concat(x)``;
- ``pad-by-zero``: ``pad(x)`` to ``x``'s own type (every pad 0);
- ``mul-by-one``, ``div-by-one``: ``x * 1``, ``1 * x``, ``x / 1`` (exact in
  every dtype);
- ``add-zero``, ``sub-zero``: ``x + 0``, ``0 + x``, ``x - 0`` (exact but for
  the sign of a zero: ``-0.0 + 0.0`` is ``+0.0``, an equal number; this is the
  "no signed zeros" assumption of fast-math compilers, harmless for inference).

The constant must be exactly one element equal to 1 (or 0) in ``x``'s dtype,
and the result must keep ``x``'s type: ``x + 0`` that broadcasts ``x`` to a
larger shape is no identity (a near miss that says so).

"Same type" is part of the pattern (``same_type``), not a check, so a real
reshape is not reported as a near miss of ``reshape-to-same-shape``. As with
every rule, the rewriter keeps graph outputs node outputs: ``identity(%x)``
whose result is a graph output and ``%x`` a graph input is left, as a near
miss.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Value
from nanograph.passes.pattern import Match, OpPattern, ValuePattern, op, such_that, var
from nanograph.passes.rewriter import Rule


@dataclass(frozen=True, eq=False)
class SameTypePattern(OpPattern):
    """An ``OpPattern`` that matches only where the op's output has its first input's type.

    The type is compared before anything else, so a node that changes the
    type fails at its root (no near miss).
    """

    def match_value(self, value: Value, state: Any, root: bool = False) -> bool:
        node = value.producer
        if node is not None and node.op in self.ops and node.inputs:
            x = node.inputs[0]
            if value.type != x.type:
                return bool(state.fail(f"{node.op} %{value.name} makes {x.type} {value.type}"))
        return super().match_value(value, state, root)


def same_type(pattern: OpPattern) -> SameTypePattern:
    """``pattern``, matching only where its op keeps its first input's type."""
    return SameTypePattern(**{f.name: getattr(pattern, f.name) for f in fields(pattern)})


def exactly(number: int, name: str | None = None) -> ValuePattern:
    """A one-element constant equal to ``number`` exactly (any dtype, any rank)."""

    def holds(v: Value) -> bool:
        data = v.const
        return v.is_const and data is not None and data.size == 1 and data.item() == number

    return var(name, such_that(holds, f"is not a one-element constant equal to {number}"))


def _input(m: Match, em: GraphEmitter) -> list[Value]:
    """The replacement of every identity: the input it passes through."""
    return [m["x"]]


def _keeps_type(m: Match) -> str | None:
    x, out = m["x"], m.root.outputs[0]
    if out.type == x.type:
        return None
    return f"it broadcasts %{x.name}: {x.type} to {out.type}, so it is not a no-op"


def _whole_in_order(m: Match) -> str | None:
    starts, steps = m.root.attrs["starts"], m.root.attrs.get("steps")
    if any(s != 0 for s in starts):
        return f"it starts at {list(starts)}, not at 0"
    if steps is not None and any(s != 1 for s in steps):
        return f"its steps are {list(steps)}, not all 1"
    return None


def _is_identity_perm(perm: tuple[int, ...]) -> bool:
    return tuple(perm) == tuple(range(len(perm)))


x = var("x")
RESHAPES = ("reshape", "flatten", "squeeze", "unsqueeze")
"""Ops that keep the elements in row-major order and change only the shape."""

identity_rules: tuple[Rule, ...] = (
    Rule("identity", op.identity(x), _input),
    Rule("reshape-to-same-shape", same_type(op.reshape(x, ops=RESHAPES[1:])), _input),
    Rule(
        "transpose-identity-perm",
        op.transpose(x, perm=such_that(_is_identity_perm, "the identity permutation")),
        _input,
    ),
    Rule("cast-to-same-dtype", same_type(op.cast(x)), _input),
    Rule("expand-to-same-shape", same_type(op.expand(x)), _input),
    Rule("slice-whole", same_type(op.slice(x)), _input, checks=(_whole_in_order,)),
    Rule("concat-of-one", op.concat(x), _input),
    Rule("pad-by-zero", same_type(op.pad(x)), _input),
    Rule("mul-by-one", op.mul(x, exactly(1)), _input, checks=(_keeps_type,)),
    Rule("div-by-one", op.div(x, exactly(1)), _input, checks=(_keeps_type,)),
    Rule("add-zero", op.add(x, exactly(0)), _input, checks=(_keeps_type,)),
    Rule("sub-zero", op.sub(x, exactly(0)), _input, checks=(_keeps_type,)),
)

__all__ = ["RESHAPES", "SameTypePattern", "exactly", "identity_rules", "same_type"]
