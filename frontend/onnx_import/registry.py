"""The converter registry and the view of an ONNX node that converters read.

One converter per ONNX op: ``@converter("Squeeze", versions=(13, 21, 23, 24, 25))``
registers a function ``(builder, node) -> outputs``. ``versions`` lists every
schema version (ONNX ``since_version``) in opsets 13..28 that the converter
was written against; a node whose schema version is not listed is reported as
unsupported rather than converted by guesswork. Where a signature changed
across versions (``Squeeze``'s axes moved from an attribute to an input;
``ReduceMean``'s at 18), the converter reads it through a small *version
adapter* that looks at ``node.version``.

A converter returns one entry per ONNX output: an ``Operand``, or ``None`` for
an output nobody uses (it must not return ``None`` where ``node.wants(i)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import onnx

from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.tensors import attribute_value
from nanograph.ir.errors import UnsupportedOpError

if TYPE_CHECKING:
    from nanograph.frontend.onnx_import.builder import Builder

MS_DOMAIN = "com.microsoft"
_MISSING: Any = object()


class OnnxNode:
    """One ONNX node as a converter sees it: attributes, operands, which outputs matter."""

    def __init__(
        self,
        proto: onnx.NodeProto,
        loc: str,
        version: int,
        inputs: Sequence[Operand | None],
        wanted: Sequence[bool],
    ) -> None:
        self.proto = proto
        self.loc = loc
        self.version = version
        self.inputs = list(inputs)
        self.wanted = list(wanted)
        self._attrs = {a.name: a for a in proto.attribute}

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def n_outputs(self) -> int:
        return len(self.proto.output)

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        """The attribute's Python value, ``default`` if absent (required if no default)."""
        if name in self._attrs:
            return attribute_value(
                self._attrs[name], f"attribute {name} of {self.op_type}", self.loc
            )
        if default is _MISSING:
            raise self.refuse(f"the required attribute {name!r} is missing")
        return default

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def input(self, index: int) -> Operand | None:
        """Input ``index``, or None when it is absent (omitted or named "")."""
        return self.inputs[index] if index < len(self.inputs) else None

    def require(self, index: int, what: str = "") -> Operand:
        value = self.input(index)
        if value is None:
            raise self.refuse(f"input {index} ({what or 'required'}) is missing")
        return value

    def wants(self, index: int) -> bool:
        """Whether output ``index`` exists and something uses it."""
        return index < len(self.wanted) and self.wanted[index]

    def refuse(self, message: str, hint: str = "") -> UnsupportedOpError:
        """An ``UnsupportedOpError`` about this node (to raise)."""
        return UnsupportedOpError(f"{self.op_type}: {message}", loc=self.loc, hint=hint)


Converter = Callable[["Builder", OnnxNode], Sequence[Operand | None]]


@dataclass(frozen=True)
class ConverterEntry:
    op_type: str
    domain: str
    versions: tuple[int, ...]
    fn: Converter


CONVERTERS: dict[tuple[str, str], ConverterEntry] = {}


def converter(
    *op_types: str, versions: Sequence[int], domain: str = ""
) -> Callable[[Converter], Converter]:
    """Register ``fn`` as the converter of ``op_types`` at schema ``versions``."""

    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            key = (domain, op_type)
            if key in CONVERTERS:
                raise ValueError(f"ONNX op {domain or 'ai.onnx'}.{op_type} has two converters")
            CONVERTERS[key] = ConverterEntry(op_type, domain, tuple(versions), fn)
        return fn

    return register


def schema_version(op_type: str, domain: str, opsets: dict[str, int]) -> int | None:
    """The ``since_version`` of the schema that a model at ``opsets`` uses, or None."""
    opset = opsets.get(domain)
    if opset is None:
        return None
    if domain != "":
        return opset  # contrib domains: the domain's version is the op's
    try:
        return int(onnx.defs.get_schema(op_type, opset, "").since_version)
    except onnx.defs.SchemaError:
        return None


def one(value: Operand) -> list[Operand | None]:
    """The output list of a single-output converter."""
    return [value]


__all__ = [
    "CONVERTERS",
    "MS_DOMAIN",
    "Converter",
    "ConverterEntry",
    "OnnxNode",
    "converter",
    "one",
    "schema_version",
]
