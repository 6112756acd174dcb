"""Rules that collapse chains of layout ops into one op, or none: ``chain_rules``.

- ``transpose-of-transpose``: ``transpose(transpose(x, p), q)`` is
  ``transpose(x, r)`` with ``r[i] = p[q[i]]`` (output axis ``i`` is the inner
  output's axis ``q[i]``, which is ``x``'s axis ``p[q[i]]``); when ``r`` is
  the identity, the pair cancels and the result is ``x``.
- ``reshape-of-reshape``: two ops of ``RESHAPES`` (reshape, flatten,
  squeeze, unsqueeze: row-major views that change only the shape) in a row
  are one ``reshape`` of ``x`` to the outer op's shape (an outer reshape's
  own target is kept, with its ``-1``), or ``x`` itself when that is ``x``'s
  shape: ``squeeze(unsqueeze(x, [0]), [0])`` cancels.

The inner op may have other users: it stays for them, and the outer op then
reads ``x`` directly, so no work is duplicated and the node count never
grows. Used with ``identity_rules`` in one worklist, so a chain of any length
collapses (each rewrite revisits the users of its result).
"""

from __future__ import annotations

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.errors import NanographError
from nanograph.ir.graph import Value
from nanograph.ir.types import shape_str
from nanograph.passes.canonicalize.identities import RESHAPES
from nanograph.passes.pattern import Match, op, var
from nanograph.passes.rewriter import Reject, Rule


def _composed_transposes(m: Match, em: GraphEmitter) -> list[Value]:
    inner, outer = m.node("inner").attrs["perm"], m.root.attrs["perm"]
    perm = tuple(inner[q] for q in outer)
    if perm == tuple(range(len(perm))):
        return [m["x"]]
    return [em.op("transpose", m["x"], perm=perm)]


def _one_reshape(m: Match, em: GraphEmitter) -> list[Value]:
    x, out = m["x"], m.root.outputs[0]
    if out.type == x.type:
        return [x]
    target = m.root.attrs["shape"] if m.root.op == "reshape" else out.type.shape
    try:
        made = em.op("reshape", x, shape=target)
    except NanographError as err:
        raise Reject(
            f"a reshape of %{x.name} to {shape_str(target)} fails: {err.message}"
        ) from None
    if made.type != out.type:
        raise Reject(
            f"a reshape of %{x.name} to {shape_str(target)} gives {made.type}, not {out.type}"
        )
    return [made]


chain_rules: tuple[Rule, ...] = (
    Rule(
        "transpose-of-transpose",
        op.transpose(op.transpose(var("x"), capture="inner", single_use=False)),
        _composed_transposes,
    ),
    Rule(
        "reshape-of-reshape",
        op.reshape(op.reshape(var("x"), ops=RESHAPES[1:], single_use=False), ops=RESHAPES[1:]),
        _one_reshape,
    ),
)

__all__ = ["chain_rules"]
