"""Op attributes: typed specs and an immutable, hashable attribute mapping.

Each op declares its attributes as ``AttrSpec`` (kind, default, allowed choices).
``Attrs`` holds a node's validated, normalized attribute values: ints are
``int``, lists are tuples, dims are ``Dim``, dtypes are ``DType``. Attributes
whose default is ``None`` and that were not given are absent (``attrs.get``
returns ``None``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nanograph.ir.dims import as_dim
from nanograph.ir.errors import AttributeValueError, NanographError
from nanograph.ir.types import DType

ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats", "dim", "dims", "dtype")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """One attribute of an op: its kind, default (``REQUIRED`` if none) and choices."""

    kind: str
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    def normalize(self, op: str, name: str, value: Any) -> Any:
        """Convert ``value`` to this kind's canonical form or raise AttributeValueError."""
        try:
            out = _NORMALIZERS[self.kind](value)
        except (TypeError, ValueError, NanographError):
            raise AttributeValueError(
                f"{op}: attribute {name}={value!r} is not a valid {self.kind}",
            ) from None
        if self.choices is not None and out not in self.choices:
            choices = ", ".join(repr(c) for c in self.choices)
            raise AttributeValueError(
                f"{op}: attribute {name}={value!r} is not allowed",
                hint=f"use one of {choices}",
            )
        return out


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise TypeError
    return int(v)


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise TypeError
    return float(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise TypeError


def _to_str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError
    return v


def _to_seq(item: Any) -> Any:
    def convert(v: Any) -> tuple[Any, ...]:
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise TypeError
        return tuple(item(x) for x in v)

    return convert


_NORMALIZERS: dict[str, Any] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "ints": _to_seq(_to_int),
    "floats": _to_seq(_to_float),
    "dim": as_dim,
    "dims": _to_seq(as_dim),
    "dtype": DType.parse,
}


class Attrs(Mapping[str, Any]):
    """An immutable, hashable mapping of attribute name to normalized value."""

    __slots__ = ("_hash", "_items")

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._items: tuple[tuple[str, Any], ...] = tuple(sorted((values or {}).items()))
        self._hash = hash(tuple((k, _hashable(v)) for k, v in self._items))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attrs):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Attrs({dict(self._items)!r})"

    def replace(self, **changes: Any) -> Attrs:
        merged = dict(self._items)
        merged.update(changes)
        return Attrs({k: v for k, v in merged.items() if v is not None})


def _hashable(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return v


def validate_attrs(op: str, specs: Mapping[str, AttrSpec], given: Mapping[str, Any]) -> Attrs:
    """Check ``given`` against ``specs``; fill defaults; return normalized ``Attrs``."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise AttributeValueError(
            f"{op}: unknown attribute(s) {', '.join(unknown)}",
            hint=f"{op} takes these attributes: {known}",
        )
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        value = given.get(name, spec.default)
        if value is REQUIRED:
            raise AttributeValueError(f"{op}: attribute {name!r} is required")
        if value is None:
            continue
        out[name] = spec.normalize(op, name, value)
    return Attrs(out)
