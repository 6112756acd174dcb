"""Symbolic dims as run-time ONNX tensors, so one exported file serves every size.

An attribute dim such as a reshape's ``[N, S, 4, 16]``, a slice's end ``S``
or a range's limit ``S`` cannot be written into the file as a number. Each
symbol is read from a graph input axis that carries it (``Shape`` with
``start``/``end``: an i64 [1]), compound dims are built from those with
``Add``/``Mul``/``Div`` on i64 [1] tensors, and whole shapes are ``Concat``
of the pieces (runs of static dims become one constant).

Contracts:
- A symbol's source is the first graph-input axis whose dim is exactly that
  symbol; failing that, an axis ``c*S + k`` (then ``S = (dim - k) / c``).
  A symbol with neither raises ``ConfigError`` naming it.
- ``a // d`` becomes ONNX ``Div`` on int64, which truncates toward zero; dims
  are never negative, so this is the floor the IR means.
- Each distinct dim is computed once per export (cached by its text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from nanograph.ir.dims import Atom, Dim, SymExpr
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph

if TYPE_CHECKING:
    from nanograph.backends.onnx_export.context import ExportContext

# symbol -> (input name, axis, c, k) meaning the input's axis has length c*symbol + k
Source = tuple[str, int, int, int]


def _linear_symbol(dim: Dim) -> tuple[str, int, int] | None:
    """(S, c, k) if ``dim`` is ``c*S + k`` for one symbol S, else None."""
    if not isinstance(dim, SymExpr):
        return None
    found: tuple[str, int] | None = None
    k = 0
    for mono, coeff in dim.terms:
        if not mono:
            k = coeff
        elif len(mono) == 1 and isinstance(mono[0], str) and found is None:
            found = (mono[0], coeff)
        else:
            return None
    return None if found is None else (found[0], found[1], k)


def symbol_sources(graph: Graph) -> dict[str, Source]:
    """Where each symbol can be read at run time: bare axes first, then linear ones."""
    sources: dict[str, Source] = {}
    for exact in (True, False):
        for value in graph.inputs:
            for axis, dim in enumerate(value.type.shape):
                found = _linear_symbol(dim)
                if found is None or found[0] in sources:
                    continue
                symbol, c, k = found
                if not exact or (c, k) == (1, 0):
                    sources[symbol] = (value.name, axis, c, k)
    return sources


class DimMaterializer:
    """Emits (once each) the ONNX nodes that compute symbolic dims from input shapes."""

    def __init__(self, ctx: ExportContext, graph: Graph) -> None:
        self.ctx = ctx
        self.sources = symbol_sources(graph)
        self._cache: dict[str, str] = {}

    def shape(self, dims: Sequence[Dim], what: str = "shape") -> str:
        """An i64 [len(dims)] tensor: a constant if every dim is static, else a Concat."""
        static = [d for d in dims if isinstance(d, int)]
        if len(static) == len(dims):
            return self.ctx.i64s(static, what)
        pieces: list[str] = []
        run: list[int] = []
        for d in dims:
            if isinstance(d, int):
                run.append(d)
                continue
            if run:
                pieces.append(self.ctx.i64s(run))
                run = []
            pieces.append(self.dim(d))
        if run:
            pieces.append(self.ctx.i64s(run))
        return pieces[0] if len(pieces) == 1 else self.ctx.emit1("Concat", pieces, axis=0)

    def scalar(self, d: Dim) -> str:
        """A 0-d i64 tensor holding ``d`` (for ``Range``)."""
        if isinstance(d, int):
            return self.ctx.const(np.array(d, dtype=np.int64))
        key = f"scalar:{d}"
        if key not in self._cache:
            with self.ctx.located(self.ctx.loc, f"dim.{d}"):
                self._cache[key] = self.ctx.emit1("Squeeze", [self.dim(d), self.ctx.i64s([0])])
        return self._cache[key]

    def dim(self, d: Dim) -> str:
        """An i64 [1] tensor holding ``d``."""
        if isinstance(d, int):
            return self.ctx.i64s([d])
        key = str(d)
        if key not in self._cache:
            with self.ctx.located(f"dim {key}", f"dim.{key}"):
                self._cache[key] = self._expr(d)
        return self._cache[key]

    def _expr(self, d: SymExpr) -> str:
        """Sum of monomials, each a product of atoms times its coefficient."""
        emit, i64s = self.ctx.emit1, self.ctx.i64s
        total: str | None = None
        constant = 0
        for mono, coeff in d.terms:
            if not mono:
                constant = coeff
                continue
            term = self._atom(mono[0])
            for atom in mono[1:]:
                term = emit("Mul", [term, self._atom(atom)])
            if coeff != 1:
                term = emit("Mul", [term, i64s([coeff])])
            total = term if total is None else emit("Add", [total, term])
        assert total is not None  # a SymExpr mentions at least one symbol
        return emit("Add", [total, i64s([constant])]) if constant else total

    def _atom(self, atom: Atom) -> str:
        if not isinstance(atom, str):
            return self.ctx.emit1("Div", [self.dim(atom.num), self.ctx.i64s([atom.den])])
        if atom in self._cache:
            return self._cache[atom]
        source = self.sources.get(atom)
        if source is None:
            raise ConfigError(
                f"cannot export: the size {atom} is used in an attribute, but no graph "
                "input has an axis of that size to read it from at run time",
                hint=f"bind it before exporting (--dims {atom}=... / ng.specialize)",
            )
        name, axis, c, k = source
        with self.ctx.located(f"dim {atom}: axis {axis} of input {name}", f"dim.{atom}"):
            out = self.ctx.emit1("Shape", [name], start=axis, end=axis + 1)
            if k:
                out = self.ctx.emit1("Sub", [out, self.ctx.i64s([k])])
            if c != 1:
                out = self.ctx.emit1("Div", [out, self.ctx.i64s([c])])
        self._cache[atom] = out
        return out


__all__ = ["DimMaterializer", "symbol_sources"]
