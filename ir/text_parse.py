"""Parsing the IR text form (the format and its contracts: ``nanograph.ir.text``).

``parse_graph`` reads what ``print_graph`` writes, builds nodes with the
declared types and checks they equal inference; every problem is a
``ParseError`` with line, column and what was expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nanograph.ir.dims import Dim, parse_dim
from nanograph.ir.errors import NanographError, ParseError
from nanograph.ir.graph import Graph, Node, Value, infer_node_types
from nanograph.ir.ops import OpDef, get_op
from nanograph.ir.text_print import BARE_NAME, quote_name
from nanograph.ir.types import DType, TensorType

_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_RETURN = re.compile(r"return(?![A-Za-z0-9_.])")
_DTYPES = {d.value: d for d in DType}


# parsing: one line at a time --------------------------------------------------------
class _Cursor:
    """A position in one line of text; every failure is a located ParseError."""

    def __init__(self, line: str, lineno: int) -> None:
        self.line = line
        self.lineno = lineno
        self.pos = 0

    def error(self, message: str, pos: int | None = None, hint: str = "") -> ParseError:
        col = (self.pos if pos is None else pos) + 1
        excerpt = f"\n  | {self.line}\n  | {' ' * (col - 1)}^"
        return ParseError(f"line {self.lineno}, column {col}: {message}{excerpt}", hint=hint)

    def expected(self, what: str, hint: str = "") -> ParseError:
        self.skip()
        rest = self.line[self.pos :]
        found = repr(rest.split()[0][:12]) if rest.strip() else "end of line"
        return self.error(f"expected {what}, found {found}", hint=hint)

    def skip(self) -> int:
        while self.pos < len(self.line) and self.line[self.pos] in " \t":
            self.pos += 1
        return self.pos

    def at(self, text: str) -> bool:
        self.skip()
        return self.line.startswith(text, self.pos)

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += len(text)
            return True
        return False

    def expect(self, text: str, what: str = "") -> None:
        if not self.accept(text):
            raise self.expected(what or repr(text))

    def match(self, pattern: re.Pattern[str], what: str = "") -> str:
        """The text ``pattern`` matches here; if none: raise saying ``what`` was expected,
        or return ``""`` when ``what`` is empty (an optional match)."""
        self.skip()
        m = pattern.match(self.line, self.pos)
        if m:
            self.pos = m.end()
            return m.group()
        if what:
            raise self.expected(what)
        return ""

    def name(self, what: str) -> str:
        if self.at('"'):
            return str(json.loads(self.match(_QUOTED, f"{what} (a closed JSON string)")))
        return self.match(BARE_NAME, what)

    def end(self) -> None:
        if self.skip() < len(self.line):
            raise self.expected("end of line")

    def items(self, item: Callable[[], Any]) -> list[Any]:
        """``item, item, ...`` (at least one)."""
        out = [item()]
        while self.accept(","):
            out.append(item())
        return out

    def separated(self, close: str, item: Callable[[], Any]) -> list[Any]:
        """``item, item, ... close`` (possibly empty); the opener was already read."""
        if self.accept(close):
            return []
        out = self.items(item)
        self.expect(close, f"',' or {close!r}")
        return out

    def dim(self, stops: str) -> Dim:
        start, depth = self.skip(), 0
        while self.pos < len(self.line):
            ch = self.line[self.pos]
            if depth == 0 and ch in stops:
                break
            depth += {"(": 1, ")": -1}.get(ch, 0)
            self.pos += 1
        text = self.line[start : self.pos].strip()
        if not text:
            raise self.expected("a dimension (an int or an expression such as N*S)")
        try:
            return parse_dim(text)
        except NanographError as err:
            raise self.error(f"bad dimension {text!r}: {err.message}", start) from None

    def dtype(self) -> DType:
        start = self.skip()
        name = self.match(_IDENT, "a dtype")
        if name not in _DTYPES:
            raise self.error(f"expected a dtype ({', '.join(_DTYPES)}), found {name!r}", start)
        return _DTYPES[name]

    def type(self) -> TensorType:
        start = self.skip()
        dtype = self.dtype()
        self.expect("[", "'[' after the dtype")
        dims = tuple(self.separated("]", lambda: self.dim(",]")))
        try:
            return TensorType(dtype, dims)
        except NanographError as err:
            raise self.error(err.message, start, err.hint) from None


# parsing: attribute values and literals ---------------------------------------------
def _scalar(cur: _Cursor, kind: str) -> Any:
    if kind == "int":
        return int(cur.match(_INT, "an int"))
    if kind == "float":
        return float(cur.match(_FLOAT, "a float (such as 0.5, 1e-05, inf or nan)"))
    if kind == "bool":
        return cur.match(re.compile(r"true|false"), "true or false") == "true"
    if kind == "str":
        return json.loads(cur.match(_QUOTED, "a quoted string"))
    if kind == "dtype":
        return cur.dtype()
    if kind == "dim":
        return cur.dim(",]}")
    raise cur.error(f"attributes of kind {kind!r} have no text form")


def _attr_value(cur: _Cursor, kind: str) -> Any:
    if kind in ("ints", "floats", "dims"):
        cur.expect("[", f"'[' to start a list of {kind}")
        return cur.separated("]", lambda: _scalar(cur, kind[:-1]))
    return _scalar(cur, kind)


def _parse_attrs(cur: _Cursor, opdef: OpDef) -> dict[str, Any]:
    attrs: dict[str, Any] = {}

    def item() -> None:
        start = cur.skip()
        name = cur.match(_IDENT, "an attribute name")
        spec = opdef.attrs.get(name)
        if spec is None:
            known = ", ".join(sorted(opdef.attrs)) or "none"
            raise cur.error(f"{opdef.name} has no attribute {name!r}", start, f"known: {known}")
        if name in attrs:
            raise cur.error(f"attribute {name!r} is given twice", start)
        cur.expect("=", f"'=' after {name}")
        attrs[name] = _attr_value(cur, spec.kind)

    cur.separated("}", item)
    return attrs


def _literal(cur: _Cursor, dtype: DType) -> Any:
    if cur.accept("["):
        return cur.separated("]", lambda: _literal(cur, dtype))
    if dtype == DType.bool:
        return _scalar(cur, "bool")
    return _scalar(cur, "int" if dtype.is_int else "float")


def _inline_array(cur: _Cursor, t: TensorType) -> np.ndarray:
    start = cur.skip()
    if not t.is_static:
        raise cur.error(f"inline data needs a static shape, the constant is {t}", start)
    nested = _literal(cur, t.dtype)
    shape: list[int] = [d for d in t.shape if isinstance(d, int)]
    try:
        return np.array(nested, dtype=t.dtype.numpy).reshape(shape)
    except (ValueError, OverflowError):
        raise cur.error(f"the data does not fill the declared type {t}", start) from None


# parsing: the graph -----------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, constants: Mapping[str, np.ndarray]) -> None:
        lines = [line.rstrip("\r") for line in text.split("\n")]
        self.lines = [
            _Cursor(line, i + 1)
            for i, line in enumerate(lines)
            if line.strip() and not line.strip().startswith("#")
        ]
        self.data = constants
        self.graph = Graph()
        self.values: dict[str, Value] = {}
        self.defined: dict[str, int] = {}

    def parse(self) -> Graph:
        if not self.lines:
            raise ParseError(
                "line 1: expected 'graph NAME(...) -> (...) {', found no text",
                hint="the text is empty (or only comments); pass what print_graph writes",
            )
        result_types = self.header(self.lines[0])
        for i, cur in enumerate(self.lines[1:], start=1):
            if cur.match(_RETURN):
                self.ret(cur, result_types)
                self.close(self.lines[i + 1 :], cur)
                return self.graph
            if cur.at("@"):
                self.constant(cur)
            elif cur.at("%"):
                self.node(cur)
            else:
                raise cur.expected("a constant (@name: ...), a node (%name = ...) or 'return'")
        last = self.lines[-1]
        raise ParseError(
            f"line {last.lineno}: expected 'return' and '}}' to close the graph",
            hint="end the graph with 'return %out, ...' and a line holding '}' (the text "
            "may be cut off)",
        )

    def header(self, cur: _Cursor) -> list[TensorType]:
        cur.expect("graph", "'graph'")
        self.graph.name = cur.name("the graph name")
        cur.expect("(", "'(' to start the inputs")

        def param() -> None:
            cur.expect("%", "an input (%name: type)")
            name = self.claim(cur, "an input name")
            cur.expect(":", "':' before the input type")
            self.values[name] = self.graph.add_input(name, cur.type())

        cur.separated(")", param)
        cur.expect("->", "'->' before the output types")
        cur.expect("(", "'(' to start the output types")
        results = cur.separated(")", cur.type)
        cur.expect("{", "'{'")
        cur.end()
        return results

    def close(self, rest: list[_Cursor], ret: _Cursor) -> None:
        if not rest:
            raise ParseError(
                f"line {ret.lineno}: expected '}}' after 'return', found no more text",
                hint="close the graph with a line holding '}' (the text may be cut off)",
            )
        if not rest[0].accept("}"):
            raise rest[0].expected(
                "'}' after 'return'", hint="'return' must be the last line before the '}'"
            )
        rest[0].end()
        if len(rest) > 1:
            raise rest[1].expected(
                "no more text after the closing '}'",
                hint="one text holds one graph; remove what follows its '}' "
                "(comments start with '#')",
            )

    def claim(self, cur: _Cursor, what: str) -> str:
        """Read a new value name; it must not be defined yet."""
        start = cur.skip()
        name = cur.name(what)
        if name in self.defined:
            first = self.defined[name]
            raise cur.error(
                f"value name {name!r} is already defined on line {first}",
                start,
                "give each value a new name (the IR is SSA)",
            )
        self.defined[name] = cur.lineno
        return name

    def ref(self, cur: _Cursor) -> Value:
        start = cur.skip()
        if cur.accept("@"):
            name = cur.name("a constant name")
            if name in self.graph.constants:
                return self.graph.constants[name]
            raise cur.error(
                f"undefined constant @{quote_name(name)}",
                start,
                f"declare it before use: @{quote_name(name)}: TYPE [= VALUE]",
            )
        cur.expect("%", "a value (%name or @name)")
        name = cur.name("a value name")
        if name in self.values:
            return self.values[name]
        hint = (
            f"constants are written @{quote_name(name)}"
            if name in self.graph.constants
            else "define the value on an earlier line (a graph lists nodes in order, no cycles)"
        )
        raise cur.error(f"undefined value %{quote_name(name)}", start, hint)

    def constant(self, cur: _Cursor) -> None:
        cur.expect("@")
        start = cur.pos
        name = self.claim(cur, "a constant name")
        cur.expect(":", "':' before the constant type")
        t = cur.type()
        if cur.accept("="):
            array: np.ndarray | None = _inline_array(cur, t)
        elif name in self.data:
            array = np.asarray(self.data[name])
            if array.dtype != t.dtype.numpy or array.shape != t.shape:
                given = f"a {array.dtype} array of shape {array.shape}"
                want = f"{t.dtype.numpy} array of shape {tuple(t.shape)}"
                raise cur.error(
                    f"data for @{name} is {given}, the text declares {t}",
                    start,
                    f"pass constants[{name!r}] as a {want}, or change the declared type",
                )
        else:
            array = None
        cur.end()
        self.graph.add_constant(name, array, t)

    def node(self, cur: _Cursor) -> None:
        names = cur.items(lambda: self.output_name(cur))
        cur.expect("=", "',' or '='")
        op_pos = cur.skip()
        op = cur.match(_IDENT, "an op name")
        try:
            opdef = get_op(op)
        except NanographError as err:
            raise cur.error(err.message, op_pos, err.hint) from None
        cur.expect("(", f"'(' after {op}")
        inputs = cur.separated(")", lambda: self.ref(cur))
        attrs_pos = cur.skip()
        attrs = _parse_attrs(cur, opdef) if cur.accept("{") else {}
        cur.expect(":", "':' before the output types")
        typed = cur.items(lambda: (cur.skip(), cur.type()))
        loc = self.loc(cur)
        if len(typed) != len(names):
            raise cur.error(f"{len(names)} output(s) named but {len(typed)} type(s) given", op_pos)
        try:
            node = self.graph.create_node(
                op, inputs, attrs, loc=loc, names=names, types=[t for _, t in typed]
            )
        except NanographError as err:
            raise cur.error(err.message, attrs_pos, err.hint) from None
        self.check_types(cur, node, op_pos, [p for p, _ in typed])
        self.graph.append(node)
        self.values.update((v.name, v) for v in node.outputs)

    def output_name(self, cur: _Cursor) -> str:
        cur.expect("%", "an output (%name)")
        return self.claim(cur, "an output name")

    def loc(self, cur: _Cursor) -> str:
        if not cur.accept("#"):
            cur.end()
            return ""
        start, text = cur.pos, cur.line[cur.pos :].strip()
        cur.pos = len(cur.line)
        if not text.startswith('"'):
            return text
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            raise cur.error("a location starting with '\"' must be a JSON string", start) from None

    def check_types(self, cur: _Cursor, node: Node, op_pos: int, positions: list[int]) -> None:
        try:
            inferred = infer_node_types(node.op, node.inputs, node.attrs, node.loc)
        except NanographError as err:
            raise cur.error(err.message, op_pos, err.hint) from None
        if len(inferred) != len(node.outputs):
            count = f"{len(inferred)} output(s) but the line names {len(node.outputs)}"
            raise cur.error(f"{node.op} gives {count}", op_pos)
        for v, t, pos in zip(node.outputs, inferred, positions, strict=True):
            if v.type != t:
                raise cur.error(
                    f"%{v.name} is declared {v.type} but {node.op} infers {t}",
                    pos,
                    f"declare %{v.name} as {t}, or fix the inputs",
                )

    def ret(self, cur: _Cursor, results: list[TensorType]) -> None:
        start = cur.skip()
        outputs = [] if start == len(cur.line) else cur.items(lambda: self.ref(cur))
        cur.end()
        if [v.type for v in outputs] != results:
            shown = ", ".join(str(v.type) for v in outputs)
            declared = ", ".join(str(t) for t in results)
            raise cur.error(
                f"returns ({shown}) but the header declares ({declared})",
                start,
                "make the header's result types match the returned values",
            )
        self.graph.outputs = outputs


def parse_graph(text: str, constants: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Read the text form. Constants declared without inline data take their data from
    ``constants`` (by name; shape and dtype must match) or else have ``const=None``."""
    return _Parser(text, constants or {}).parse()
