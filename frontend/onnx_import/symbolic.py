"""Evaluating IR ops on symbolic ``Known`` values: shape arithmetic over the Dim algebra.

PyTorch's exporters compute shapes at runtime (``Shape -> Gather -> Unsqueeze
-> Concat -> Reshape``); here those computations run at import on values whose
elements are ints or ``SymExpr`` dims, so ``Shape(x)[0]`` becomes the dim
``N``. ``evaluate_symbolic(op, inputs, attrs, out_types)`` returns the output
arrays (object arrays of Dims, or plain arrays where everything became
static), or ``None`` when the op or its operands cannot be evaluated this way;
the caller then emits the op into the graph.

How each op is evaluated, so that nothing about an op's meaning is repeated:

- data-movement ops (gather, slice, concat, reshape, ...) run their registry
  reference on arrays of element *indices*, then pick the elements by index;
  inputs that steer the op (gather's indices) must be static;
- elementwise ops run the registry reference element by element where both
  elements are ints, and a Dim rule (``+``, ``-``, ``*``, exact or floor
  division, comparisons decided by bounds) where one is symbolic. Symbols are
  sizes, so each is at least 1; a comparison that bounds cannot decide (is
  ``N == 1``?) makes the whole evaluation ``None``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.dims import Dim, SymExpr, add, exact_div, floordiv, mul
from nanograph.ir.errors import NanographError
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType, TensorType

MAX_ELEMENTS = 4096  # symbolic values are shape vectors; anything larger is data

# op -> indices of the inputs whose elements move (None: all of them)
MOVE_OPS: dict[str, tuple[int, ...] | None] = {
    "gather": (0,),
    "concat": None,
    "slice": (0,),
    "reshape": (0,),
    "squeeze": (0,),
    "unsqueeze": (0,),
    "flatten": (0,),
    "identity": (0,),
    "expand": (0,),
    "transpose": (0,),
    "split": (0,),
}


def lower_bound(d: Dim) -> int | None:
    """A lower bound of ``d`` given every symbol is >= 1, or None if unbounded below."""
    if isinstance(d, int):
        return d
    total = 0
    for mono, coeff in d.terms:
        if coeff < 0 and mono:
            return None
        atom_bound = 1
        for atom in mono:
            if not isinstance(atom, str):
                inner = lower_bound(atom.num)
                if inner is None or inner < 0:
                    return None
                atom_bound *= inner // atom.den
        total += coeff * atom_bound if mono else coeff
    return total


def compare(a: Dim, b: Dim) -> str | None:
    """How ``a`` relates to ``b``: ``lt``, ``le``, ``eq``, ``ge``, ``gt``, or None if unknown."""
    diff = add(a, mul(b, -1))
    if isinstance(diff, int):
        return "lt" if diff < 0 else "eq" if diff == 0 else "gt"
    low, high = lower_bound(diff), lower_bound(mul(diff, -1))
    if low is not None and low >= 0:
        return "gt" if low > 0 else "ge"
    if high is not None and high >= 0:
        return "lt" if high > 0 else "le"
    return None


_TRUE_WHEN = {
    "equal": ({"eq"}, {"lt", "gt"}),
    "less": ({"lt"}, {"eq", "ge", "gt"}),
    "less_equal": ({"lt", "le", "eq"}, {"gt"}),
    "greater": ({"gt"}, {"eq", "le", "lt"}),
    "greater_equal": ({"gt", "ge", "eq"}, {"lt"}),
}


def _decide(op: str, a: Dim, b: Dim) -> bool | None:
    relation = compare(a, b)
    true, false = _TRUE_WHEN[op]
    return True if relation in true else False if relation in false else None


def _nonnegative(d: Dim) -> bool:
    low = lower_bound(d)
    return low is not None and low >= 0


def _div(a: Dim, b: Dim) -> Dim | None:
    exact = exact_div(a, b)
    if exact is not None:
        return exact
    if isinstance(b, int) and b > 0 and _nonnegative(a):
        return floordiv(a, b)  # truncation and floor agree on non-negative values
    return None


def _extreme(pick_first: set[str]) -> Callable[[Dim, Dim], Dim | None]:
    def rule(a: Dim, b: Dim) -> Dim | None:
        relation = compare(a, b)
        if relation is None:
            return None
        return a if relation in pick_first else b

    return rule


_DIM_RULES: dict[str, Callable[..., Any]] = {
    "add": add,
    "sub": lambda a, b: add(a, mul(b, -1)),
    "mul": mul,
    "div": _div,
    "neg": lambda a: mul(a, -1),
    "abs": lambda a: a if _nonnegative(a) else None,
    "maximum": _extreme({"gt", "ge", "eq"}),
    "minimum": _extreme({"lt", "le", "eq"}),
    **{op: functools.partial(_decide, op) for op in _TRUE_WHEN},
}


def _element(op: str, values: list[Any], dtypes: Sequence[DType], attrs: Attrs) -> Any:
    """One output element of an elementwise op, or None when it cannot be decided."""
    if not any(isinstance(v, SymExpr) for v in values):
        arrays = [np.asarray(v, dtype=d.numpy) for v, d in zip(values, dtypes, strict=True)]
        return get_op(op).reference(arrays, attrs)[0].item()
    if op == "where":
        cond, a, b = values
        return None if isinstance(cond, SymExpr) else (a if cond else b)
    if op == "cast":
        return values[0] if attrs["to"].is_int else None
    if op == "identity":
        return values[0]
    rule = _DIM_RULES.get(op)
    return None if rule is None else rule(*values)


def _evaluate_elementwise(
    op: str, arrays: list[np.ndarray], dtypes: list[DType], attrs: Attrs
) -> np.ndarray | None:
    broadcast = np.broadcast_arrays(*(a.astype(object) for a in arrays))
    shape = broadcast[0].shape if broadcast else ()
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        value = _element(op, [b[index] for b in broadcast], dtypes, attrs)
        if value is None:
            return None
        out[index] = value
    return out


def _evaluate_move(op: str, arrays: list[np.ndarray], attrs: Attrs) -> list[np.ndarray] | None:
    movers = MOVE_OPS[op]
    pool: list[Any] = []
    args: list[np.ndarray] = []
    for i, array in enumerate(arrays):
        if movers is None or i in movers:
            start = len(pool)
            pool.extend(array.reshape(-1).tolist())
            args.append(np.arange(start, len(pool), dtype=np.int64).reshape(array.shape))
        elif array.dtype == object:
            return None  # the op's steering input (e.g. gather indices) is symbolic
        else:
            args.append(array)
    try:
        picked = get_op(op).reference(args, attrs)
    except (NanographError, ValueError, TypeError, IndexError):
        return None
    elements = np.empty(len(pool), dtype=object)
    elements[:] = pool
    return [elements[np.asarray(p, dtype=np.int64)] for p in picked]


def evaluate_symbolic(
    op: str,
    arrays: list[np.ndarray],
    dtypes: list[DType],
    attrs: Attrs,
    out_types: list[TensorType],
) -> list[np.ndarray] | None:
    """Outputs of ``op`` on known arrays (some symbolic), or None (see module docstring)."""
    if any(not isinstance(t.numel, int) or t.numel > MAX_ELEMENTS for t in out_types):
        return None
    if op in MOVE_OPS:
        return _evaluate_move(op, arrays, attrs)
    if op in _DIM_RULES or op in ("where", "cast"):
        out = _evaluate_elementwise(op, arrays, dtypes, attrs)
        return None if out is None else [out]
    return None


__all__ = ["MOVE_OPS", "compare", "evaluate_symbolic", "lower_bound"]
