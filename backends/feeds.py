"""Checking and binding the arrays given to run a graph; shared by every backend.

``bind_inputs(graph, feeds)`` is the one gate between user arrays and a
backend. Its contract:

- Every graph input is fed and nothing else is: missing and unexpected names
  are reported together, with the names and types the graph takes.
- Python lists and scalars go through ``np.asarray`` first.
- dtype: the exact dtype is taken as is. An array of the same kind (float for
  a float input, int for an int input) is cast with ``same_kind`` and one
  ``InputConversionWarning`` names every converted input; so is a
  non-contiguous array (copied to C order). Python lists and scalars have no
  dtype of their own, so their same-kind cast is silent. Anything else (ints
  for a float input, floats for an int input, strings, objects, integers that
  do not fit) is refused, and so are finite floats that a narrowing cast
  (float64 to f32, f32 to f16) would turn into inf; the range check runs only
  when such a cast happens, and no NumPy overflow warning escapes.
- Masked arrays (``numpy.ma``) are refused (their mask would be ignored: fill
  them with ``.filled(value)``); other ndarray subclasses (``np.matrix``) are
  run as plain ndarray views of the same data.
- Shapes: ranks and int dims must match; each symbol takes its value from the
  first axis that is just that symbol and must agree everywhere else; compound
  dims (``S+1``, ``N*H``) are checked after binding, or solve for the one
  symbol they leave unbound when it appears linearly.
- All dtype and shape problems are reported in one ``InputError``.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nanograph.ir.dims import Dim, SymExpr, substitute
from nanograph.ir.errors import InputConversionWarning, InputError
from nanograph.ir.types import DType, TensorType

if TYPE_CHECKING:
    from nanograph.ir.graph import Graph


def bind_inputs(
    graph: Graph, feeds: Mapping[str, Any], *, stacklevel: int = 2
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Check ``feeds`` against ``graph.inputs``; return (arrays by input name, symbol values).

    The arrays are C-contiguous with exactly the inputs' dtypes, in the order of
    ``graph.inputs``. Raises ``InputError`` (see the module docstring).
    ``stacklevel`` is as for ``warnings.warn`` called here (2: our caller's
    line); a wrapper passes its own ``stacklevel + 1``.
    """
    _check_names(graph, feeds)
    arrays: dict[str, np.ndarray] = {}
    converted: list[str] = []
    problems: list[str] = []
    hints: list[str] = []
    for value in graph.inputs:
        try:
            array, note = coerce_array(value.name, value.type.dtype, feeds[value.name])
        except InputError as err:
            problems.append(err.message)
            hints += [err.hint] if err.hint else []
            continue
        arrays[value.name] = array
        if note:
            converted.append(note)
    binder = DimBinder()
    for value in graph.inputs:
        if value.name in arrays:
            problems += binder.match(value.name, value.type, arrays[value.name].shape)
    problems += binder.resolve()
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise InputError(
            f"inputs do not match graph {graph.name}({signature(graph)}):\n{lines}",
            hint="; ".join(
                [*hints, "feed arrays of these types; each symbol (N, S, ...) must have one value"]
            ),
        )
    if converted:
        warnings.warn(
            "converted inputs before running: " + "; ".join(converted),
            InputConversionWarning,
            stacklevel=stacklevel,
        )
    return arrays, binder.dims


def signature(graph: Graph) -> str:
    """``x: f32[N,3,32,32], mask: bool[N,S]``: the graph's inputs and their types."""
    return ", ".join(f"{v.name}: {v.type}" for v in graph.inputs)


def _check_names(graph: Graph, feeds: Mapping[str, Any]) -> None:
    expected = [v.name for v in graph.inputs]
    missing = [name for name in expected if name not in feeds]
    extra = [str(name) for name in feeds if name not in expected]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    for name in extra:
        close = difflib.get_close_matches(name, expected, n=1)
        parts.append(f"unexpected {name}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise InputError(
        f"graph {graph.name} takes inputs ({signature(graph)}): {'; '.join(parts)}",
        hint=f"pass exactly these inputs by name: {', '.join(expected) or '(none)'}",
    )


def coerce_array(name: str, dtype: DType, raw: Any) -> tuple[np.ndarray, str]:
    """``raw`` as a C-contiguous array of ``dtype``, and a note if a user array was converted.

    Raises ``InputError`` when the conversion is not a same-kind one (see module docstring).
    """
    if isinstance(raw, np.ma.MaskedArray):
        raise InputError(
            f"{name}: got a masked array (numpy.ma); nanograph runs on plain arrays and "
            "would ignore or misread its mask",
            hint=f"fill the masked entries first: {name}.filled(value), e.g. .filled(0)",
        )
    is_array = isinstance(raw, np.ndarray)
    try:
        # a subclass (np.matrix) becomes a plain ndarray view: kernels assume ndarray semantics
        array = raw.view(np.ndarray) if is_array and type(raw) is not np.ndarray else raw
        array = array if is_array else np.asarray(raw)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: cannot make an array of {type(raw).__name__}: {err}") from None
    target = dtype.numpy
    if array.dtype == target:
        if array.flags.c_contiguous:
            return array, ""
        return np.asarray(array, order="C"), f"{name}: copied to a contiguous array"
    if array.dtype.kind != target.kind or not np.can_cast(array.dtype, target, "same_kind"):
        raise InputError(
            f"{name}: expected {dtype} values, got a {array.dtype} array "
            f"(cast it first: .astype(np.{target}))"
        )
    # np.asarray(order="C"), not np.ascontiguousarray: that one turns 0-d arrays into 1-d
    with np.errstate(over="ignore"):  # overflow is checked below and refused, not warned
        cast = np.asarray(array.astype(target, casting="same_kind"), order="C")
    if target.kind in "iu" and not np.array_equal(cast, array):
        raise InputError(f"{name}: {array.dtype} values do not fit in {dtype}")
    if target.kind == "f" and target.itemsize < array.dtype.itemsize:
        _check_float_range(name, dtype, array, cast)
    return cast, (f"{name}: {array.dtype} -> {dtype}" if is_array else "")


def _check_float_range(name: str, dtype: DType, array: np.ndarray, cast: np.ndarray) -> None:
    """``InputError`` if narrowing ``array`` to ``cast`` turned finite values into +-inf.

    Inf and NaN given as such stay what they are (they propagate as in NumPy);
    only finite values beyond the target's range are refused, since the cast
    would silently make them infinite.
    """
    overflowed = np.isinf(cast)
    if not overflowed.any():
        return
    overflowed &= np.isfinite(array)
    if not overflowed.any():
        return
    count = int(overflowed.sum())
    largest = float(np.abs(array[overflowed]).max())
    limit = float(np.finfo(dtype.numpy).max)
    where = tuple(int(i) for i in np.argwhere(overflowed)[0])
    raise InputError(
        f"{name}: {count} finite {array.dtype} value(s) do not fit in {dtype} "
        f"(largest |value| {largest:.6g} at index {list(where)}; {dtype} holds up to "
        f"{limit:.6g}) and would become inf",
        hint=f"scale {name} so that |value| <= {limit:.6g} ({dtype}'s largest), or clip it: "
        f"np.clip({name}, -{limit:.6g}, {limit:.6g})",
    )


def _bare_symbol(dim: Dim) -> str | None:
    """The symbol's name if ``dim`` is exactly one symbol (``N``), else None."""
    if isinstance(dim, SymExpr) and len(dim.terms) == 1:
        mono, coeff = dim.terms[0]
        if coeff == 1 and len(mono) == 1 and isinstance(mono[0], str):
            return mono[0]
    return None


def solve_linear(dim: Dim, value: int) -> tuple[str, int] | None:
    """(symbol, its value) if ``dim == value`` fixes one symbol of ``dim`` linearly, else None.

    ``dim`` must be ``c*S + k`` (``S`` a symbol, ``c``, ``k`` ints) and the
    solution an int; ``S+1 == 5`` gives ``("S", 4)``. Anything else (two
    symbols, products, floor division) gives None.
    """
    if not isinstance(dim, SymExpr):
        return None
    symbol, coeff, const = None, 0, 0
    for mono, c in dim.terms:
        if not mono:
            const = c
        elif len(mono) == 1 and isinstance(mono[0], str) and symbol is None:
            symbol, coeff = mono[0], c
        else:
            return None
    if symbol is None or (value - const) % coeff:
        return None
    return symbol, (value - const) // coeff


class DimBinder:
    """Binds symbols to ints from concrete shapes, remembering where each came from.

    ``match`` checks int dims and binds bare symbols at once; compound dims wait
    for ``resolve`` so that every bare symbol in a set of shapes is bound first.
    Both return problems as sentences (empty when all is well); ``dims`` holds
    the bindings so far.
    """

    def __init__(self, dims: Mapping[str, int] | None = None) -> None:
        self.dims: dict[str, int] = dict(dims or {})
        self.origin: dict[str, str] = {name: "given" for name in self.dims}
        self._pending: list[tuple[str, TensorType, tuple[int, ...], int]] = []

    def match(self, what: str, expected: TensorType, shape: Sequence[int]) -> list[str]:
        """Check ``shape`` against ``expected``'s rank, ints and bare symbols."""
        shape = tuple(int(n) for n in shape)
        got = f"expected {expected}, got shape {_shape_text(shape)}"
        if len(shape) != expected.rank:
            return [f"{what}: {got}: rank {len(shape)}, expected rank {expected.rank}"]
        problems = []
        for axis, (dim, n) in enumerate(zip(expected.shape, shape, strict=True)):
            symbol = _bare_symbol(dim)
            if isinstance(dim, int):
                if dim != n:
                    problems.append(f"{what}: {got}: axis {axis} is {n}, expected {dim}")
            elif symbol is None:
                self._pending.append((what, expected, shape, axis))
            elif symbol not in self.dims:
                self.dims[symbol] = n
                self.origin[symbol] = f"{what} axis {axis}"
            elif self.dims[symbol] != n:
                problems.append(
                    f"{what}: {got}: axis {axis} is {n}, but {symbol}={self.dims[symbol]} "
                    f"(from {self.origin[symbol]})"
                )
        return problems

    def resolve(self) -> list[str]:
        """Solve and check the compound dims queued by ``match``; clears the queue."""
        pending, self._pending = self._pending, []
        progress = True
        while progress:  # each solved symbol may unlock another compound dim
            progress = False
            for what, expected, shape, axis in pending:
                solved = solve_linear(substitute(expected.shape[axis], self.dims), shape[axis])
                if solved is not None and solved[1] >= 0:
                    self.dims[solved[0]] = solved[1]
                    self.origin[solved[0]] = f"{what} axis {axis}"
                    progress = True
        return [p for item in pending if (p := self._check_compound(*item))]

    def _check_compound(
        self, what: str, expected: TensorType, shape: tuple[int, ...], axis: int
    ) -> str:
        dim, n = expected.shape[axis], shape[axis]
        value = substitute(dim, self.dims)
        got = f"{what}: expected {expected}, got shape {_shape_text(shape)}: axis {axis} is {n}"
        if isinstance(value, int):
            if value == n:
                return ""
            bound = ", ".join(
                f"{s}={self.dims[s]} (from {self.origin[s]})" for s in sorted(_symbols(dim))
            )
            return f"{got}, but {dim} = {value} with {bound}"
        solved = solve_linear(value, n)
        if solved is not None:
            return f"{got}, which would make {solved[0]}={solved[1]} in {dim}"
        unbound = ", ".join(sorted(value.symbols()))
        return f"{got}, which does not determine {unbound} in {dim}"


def _symbols(dim: Dim) -> set[str]:
    return dim.symbols() if isinstance(dim, SymExpr) else set()


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(n) for n in shape) + "]"


__all__ = [
    "DimBinder",
    "InputConversionWarning",
    "bind_inputs",
    "coerce_array",
    "signature",
    "solve_linear",
]
