"""Tensor dimensions: ints or symbolic expressions over named symbols.

A ``Dim`` is either a Python ``int`` or a ``SymExpr``. ``SymExpr`` is a small
canonical algebra of ``+``, ``-``, ``*`` and ``//`` (by a positive int) that
covers what shape inference needs: ``N*H``, ``S+1``, ``(H-3)//2+1``.

Invariants:
- Every ``SymExpr`` is in normal form: a polynomial whose monomials are sorted
  products of atoms (a symbol name, or ``FloorDiv(expr, d)`` that could not be
  simplified), with non-zero integer coefficients. So two expressions that are
  equal as polynomials compare equal and hash equally.
- An expression with no symbols left is returned as a plain ``int``; a
  ``SymExpr`` always mentions at least one symbol.
- ``str(e)`` prints a form that ``parse_dim`` reads back to an equal value.

Prior art: tinygrad's ``uop/symbolic.py``; torch's sympy shapes (much larger).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

from nanograph.ir.errors import ShapeError

Dim = Union[int, "SymExpr"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class FloorDiv:
    """An atom ``num // den`` that could not be simplified; ``den >= 2``."""

    num: SymExpr
    den: int

    def sort_key(self) -> tuple[int, str]:
        return (1, str(self))

    def __str__(self) -> str:
        inner = str(self.num)
        if not _IDENT.match(inner):
            inner = f"({inner})"
        return f"{inner}//{self.den}"


Atom = str | FloorDiv
Monomial = tuple[Atom, ...]


def _atom_key(atom: Atom) -> tuple[int, str]:
    return (0, atom) if isinstance(atom, str) else atom.sort_key()


def _mono_key(mono: Monomial) -> tuple[tuple[int, str], ...]:
    return tuple(_atom_key(a) for a in mono)


class SymExpr:
    """A symbolic dimension in normal form (see module docstring)."""

    __slots__ = ("_hash", "terms")

    terms: tuple[tuple[Monomial, int], ...]

    def __init__(self, terms: Mapping[Monomial, int]) -> None:
        items = [(m, c) for m, c in terms.items() if c != 0]
        items.sort(key=lambda mc: (len(mc[0]) == 0, _mono_key(mc[0])))
        self.terms = tuple(items)
        self._hash = hash(self.terms)

    # construction -----------------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> SymExpr:
        if not _IDENT.match(name):
            raise ShapeError(
                f"invalid dimension symbol {name!r}",
                hint="symbols are identifiers such as 'N', 'S' or 'batch'",
            )
        return SymExpr({(name,): 1})

    @staticmethod
    def _make(terms: Mapping[Monomial, int]) -> Dim:
        nonzero = {m: c for m, c in terms.items() if c != 0}
        if not nonzero:
            return 0
        if set(nonzero) == {()}:
            return nonzero[()]
        return SymExpr(nonzero)

    # queries ----------------------------------------------------------------------
    def symbols(self) -> set[str]:
        out: set[str] = set()
        for mono, _ in self.terms:
            for atom in mono:
                if isinstance(atom, str):
                    out.add(atom)
                else:
                    out |= atom.num.symbols()
        return out

    def substitute(self, bindings: Mapping[str, Dim]) -> Dim:
        """Replace bound symbols by their values and renormalize."""
        total: Dim = 0
        for mono, coeff in self.terms:
            prod: Dim = coeff
            for atom in mono:
                if isinstance(atom, str):
                    prod = mul(prod, bindings.get(atom, SymExpr.symbol(atom)))
                else:
                    prod = mul(prod, floordiv(substitute(atom.num, bindings), atom.den))
            total = add(total, prod)
        return total

    # arithmetic -------------------------------------------------------------------
    def __add__(self, other: Dim) -> Dim:
        return add(self, other)

    __radd__ = __add__

    def __sub__(self, other: Dim) -> Dim:
        return add(self, mul(other, -1))

    def __rsub__(self, other: Dim) -> Dim:
        return add(other, mul(self, -1))

    def __mul__(self, other: Dim) -> Dim:
        return mul(self, other)

    __rmul__ = __mul__

    def __neg__(self) -> Dim:
        return mul(self, -1)

    def __floordiv__(self, other: Dim) -> Dim:
        return floordiv(self, other)

    def __rfloordiv__(self, other: Dim) -> Dim:
        return floordiv(other, self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymExpr) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        parts: list[str] = []
        for mono, coeff in self.terms:
            # ``a*b//c`` would read back as ``(a*b)//c`` and ``-a//c`` as ``(-a)//c``,
            # so a floor-division atom is parenthesized unless it stands alone.
            alone = len(mono) == 1 and (coeff == 1 or (coeff == -1 and bool(parts)))
            body = "*".join(str(a) if alone or isinstance(a, str) else f"({a})" for a in mono)
            if not mono:
                text = str(abs(coeff))
            elif abs(coeff) == 1:
                text = body
            else:
                text = f"{abs(coeff)}*{body}"
            if not parts:
                parts.append(text if coeff > 0 else f"-{text}")
            else:
                parts.append(("+" if coeff > 0 else "-") + text)
        return "".join(parts)

    def __repr__(self) -> str:
        return f"SymExpr({str(self)!r})"


def _terms(d: Dim) -> dict[Monomial, int]:
    if isinstance(d, SymExpr):
        return dict(d.terms)
    return {(): int(d)} if d else {}


def as_dim(value: object) -> Dim:
    """Convert an int, a numpy integer, a symbol name or a ``SymExpr`` to a Dim."""
    if isinstance(value, SymExpr):
        return value
    if isinstance(value, str):
        return parse_dim(value)
    if isinstance(value, bool):
        raise ShapeError(f"a dimension must be an int or a symbol, got {value!r}")
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ShapeError(f"a dimension must be an int or a symbol name, got {value!r}") from None


def add(a: Dim, b: Dim) -> Dim:
    terms = _terms(a)
    for mono, coeff in _terms(b).items():
        terms[mono] = terms.get(mono, 0) + coeff
    return SymExpr._make(terms)


def mul(a: Dim, b: Dim) -> Dim:
    out: dict[Monomial, int] = {}
    for ma, ca in _terms(a).items():
        for mb, cb in _terms(b).items():
            mono = tuple(sorted(ma + mb, key=_atom_key))
            out[mono] = out.get(mono, 0) + ca * cb
    return SymExpr._make(out)


def floordiv(a: Dim, b: Dim) -> Dim:
    """``a // b`` for a positive int ``b``; exact parts divide out, the rest stays an atom.

    Normal form: terms whose coefficient ``b`` divides come out of the floor,
    and the constant ``c`` splits as ``q*b + r`` with ``0 <= r < b`` (since
    ``(X + q*b + r)//b == (X + r)//b + q``). So ``(H-2)//2+1`` and ``H//2`` are
    the same value, and ``(H-1)//2+1`` prints as ``(H+1)//2``.
    """
    if isinstance(b, SymExpr):
        raise ShapeError(
            f"cannot divide dimension {a} by the symbolic dimension {b}",
            hint="bind the symbol first (specialize or --dims), or divide by an int",
        )
    if b <= 0:
        raise ShapeError(f"cannot divide dimension {a} by {b}: the divisor must be positive")
    if isinstance(a, int):
        return a // b
    if b == 1:
        return a
    exact: dict[Monomial, int] = {}
    rest: dict[Monomial, int] = {}
    for mono, coeff in a.terms:
        if not mono:
            exact[mono], rest[mono] = divmod(coeff, b)
        elif coeff % b == 0:
            exact[mono] = coeff // b
        else:
            rest[mono] = coeff
    rest_dim = SymExpr._make(rest)
    if isinstance(rest_dim, int):
        tail: Dim = rest_dim // b
    else:
        tail = SymExpr({(FloorDiv(rest_dim, b),): 1})
    return add(SymExpr._make(exact), tail)


def substitute(d: Dim, bindings: Mapping[str, Dim]) -> Dim:
    return d.substitute(bindings) if isinstance(d, SymExpr) else d


def symbols_of(dims: Iterable[Dim]) -> set[str]:
    out: set[str] = set()
    for d in dims:
        if isinstance(d, SymExpr):
            out |= d.symbols()
    return out


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def format_dim(d: Dim) -> str:
    return str(d)


# parsing ---------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*()]))")


class _DimParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                raise ShapeError(f"cannot read dimension {text!r} at character {pos}")
            self.tokens.append(m.group(m.lastindex or 0))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ShapeError(f"dimension {self.text!r} ends too early")
        self.i += 1
        return tok

    def parse(self) -> Dim:
        value = self.expr()
        if self.peek() is not None:
            raise ShapeError(f"unexpected {self.peek()!r} in dimension {self.text!r}")
        return value

    def expr(self) -> Dim:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = add(value, rhs if op == "+" else mul(rhs, -1))
        return value

    def term(self) -> Dim:
        value = self.factor()
        while self.peek() in ("*", "//"):
            op = self.take()
            rhs = self.factor()
            value = mul(value, rhs) if op == "*" else floordiv(value, rhs)
        return value

    def factor(self) -> Dim:
        tok = self.take()
        if tok == "-":
            return mul(self.factor(), -1)
        if tok == "(":
            value = self.expr()
            if self.take() != ")":
                raise ShapeError(f"missing ')' in dimension {self.text!r}")
            return value
        if tok.isdigit():
            return int(tok)
        if _IDENT.match(tok):
            return SymExpr.symbol(tok)
        raise ShapeError(f"unexpected {tok!r} in dimension {self.text!r}")


def parse_dim(text: str) -> Dim:
    """Read a dimension written as by ``str``: ``"32"``, ``"N"``, ``"(H-3)//2+1"``."""
    return _DimParser(text).parse()


# exact division --------------------------------------------------------------------
def _mono_div(mono: Monomial, by: Monomial) -> Monomial | None:
    """``mono / by`` as a monomial, or None if ``by`` is not a sub-multiset of ``mono``."""
    rest = list(mono)
    for atom in by:
        if atom not in rest:
            return None
        rest.remove(atom)
    return tuple(rest)


def _leading(terms: Mapping[Monomial, int]) -> Monomial:
    # Graded order: degree first, then the atom keys; compatible with
    # multiplication, so the leading term of a product is the product of theirs.
    return max(terms, key=lambda m: (len(m), _mono_key(m)))


def exact_div(a: Dim, b: Dim) -> Dim | None:
    """``q`` with ``q * b == a`` as polynomials (integer coefficients), or None.

    Examples: ``exact_div(N*S*64, N*S) == 64``; ``exact_div(2*N+4, 2) == N+2``;
    ``exact_div(N, 2)`` is None (not provably exact). ``b == 0`` gives None.
    Atoms (symbols and unsimplified ``//`` terms) are treated as independent.
    """
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b != 0 and a % b == 0 else None
    divisor = _terms(b)
    if not divisor:
        return None
    lead_b = _leading(divisor)
    rem = _terms(a)
    quotient: dict[Monomial, int] = {}
    while rem:
        lead = _leading(rem)
        mono = _mono_div(lead, lead_b)
        if mono is None or rem[lead] % divisor[lead_b] != 0:
            return None
        coeff = rem[lead] // divisor[lead_b]
        quotient[mono] = quotient.get(mono, 0) + coeff
        for mb, cb in divisor.items():
            prod = tuple(sorted(mono + mb, key=_atom_key))
            rem[prod] = rem.get(prod, 0) - coeff * cb
            if rem[prod] == 0:
                del rem[prod]
    return SymExpr._make(quotient)
