"""The IR text form: golden output, round trips, inline constants, quoting, parse errors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nanograph.ir import (
    OPS,
    AttrSpec,
    Graph,
    ParseError,
    TensorType,
    parse_graph,
    print_graph,
    verify,
)
from nanograph.ir.attrs import REQUIRED
from nanograph.ir.ops import OpDef
from nanograph.ir.text import format_attr, quote_name
from nanograph.ir.text_parse import _attr_value, _Cursor

f32 = np.float32


def golden_graph() -> Graph:
    g = Graph("tiny_cnn")
    x = g.add_input("x", TensorType.of("f32", ["N", 3, 32, 32]))
    w = g.add_constant("conv1.weight", np.zeros((16, 3, 3, 3), f32))
    b = g.add_constant("conv1.bias", None, TensorType.of("f32", [16]))
    scale = g.add_constant("scale", np.array(0.125, f32))
    g.add_constant("ids", np.array([[1, 2], [3, -4]], np.int64))
    g.add_constant("mask", np.array([True, False]))
    g.add_constant("blocks/0:w", np.array([0.5, -np.inf], f32))
    attrs = {"pads": [1, 1, 1, 1], "strides": [2, 2]}
    conv = g.add("conv2d", [x, w, b], attrs, names=["conv1"], loc="model.py:12").output
    a, rest = g.add("split", [conv], {"axis": 1, "sizes": [8, 8]}, names=["a", "b"]).outputs
    q = g.add("mul", [a, scale], names=["layers.0.attn.q_proj"]).output
    clipped = g.add("clip", [q], {"min": 0.0, "max": math.inf}, names=["clipped"]).output
    gelu = g.add("gelu", [clipped], {"approximate": "none"}, loc='onnx "Gelu_3"').output
    flat = g.add("reshape", [gelu], {"shape": ["N", -1]}, names=["my value"]).output
    ints = g.add("cast", [rest], {"to": "i64"}, names=["b.i64"], loc="\tindented").output
    r = g.add("range", [], {"start": 1, "limit": "N+1"}, names=["r"]).output
    g.outputs = [flat, ints, r]
    return g


GOLDEN = """\
graph tiny_cnn(%x: f32[N,3,32,32]) -> (f32[N,2048], i64[N,8,16,16], i64[N]) {
  @conv1.weight: f32[16,3,3,3]
  @conv1.bias: f32[16]
  @scale: f32[] = 0.125
  @ids: i64[2,2] = [[1, 2], [3, -4]]
  @mask: bool[2] = [true, false]
  @"blocks/0:w": f32[2] = [0.5, -inf]
  %conv1 = conv2d(%x, @conv1.weight, @conv1.bias) {pads=[1,1,1,1], strides=[2,2]} : f32[N,16,16,16]  # model.py:12
  %a, %b = split(%conv1) {axis=1, sizes=[8,8]} : f32[N,8,16,16], f32[N,8,16,16]
  %layers.0.attn.q_proj = mul(%a, @scale) : f32[N,8,16,16]
  %clipped = clip(%layers.0.attn.q_proj) {min=0.0} : f32[N,8,16,16]
  %gelu = gelu(%clipped) : f32[N,8,16,16]  # onnx "Gelu_3"
  %"my value" = reshape(%gelu) {shape=[N,-1]} : f32[N,2048]
  %b.i64 = cast(%b) {to=i64} : i64[N,8,16,16]  # "\\tindented"
  %r = range() {limit=N+1, start=1} : i64[N]
  return %"my value", %b.i64, %r
}
"""  # noqa: E501


def test_golden_text() -> None:
    assert print_graph(golden_graph()) == GOLDEN


def test_golden_text_parses_back() -> None:
    weight = np.arange(16 * 27, dtype=f32).reshape(16, 3, 3, 3)
    g = parse_graph(GOLDEN, {"conv1.weight": weight})
    verify(g)
    assert print_graph(g) == GOLDEN
    assert g.name == "tiny_cnn"
    assert [v.name for v in g.outputs] == ["my value", "b.i64", "r"]
    assert g.constants["conv1.weight"].const is not None
    assert np.array_equal(g.constants["conv1.weight"].const, weight)
    assert g.constants["conv1.bias"].const is None  # declared, no data given
    nodes = list(g.nodes)
    assert nodes[0].loc == "model.py:12"
    assert nodes[4].loc == 'onnx "Gelu_3"'
    assert nodes[6].loc == "\tindented"
    assert nodes[3].attrs["max"] == math.inf  # defaults are filled back
    assert nodes[4].attrs["approximate"] == "none"


def test_parser_accepts_blank_lines_comments_and_spacing() -> None:
    text = """
    # a comment
    graph  g ( %x : f32[ N , 2 ] )  ->  ( f32[N,2] )  {

      %y=relu( %x ):f32[N,2]#here
      return %y
    }
    """
    g = parse_graph(text)
    assert print_graph(g) == (
        "graph g(%x: f32[N,2]) -> (f32[N,2]) {\n"
        "  %y = relu(%x) : f32[N,2]  # here\n"
        "  return %y\n"
        "}\n"
    )


def test_a_graph_with_no_inputs_or_outputs() -> None:
    g = Graph("empty")
    text = print_graph(g)
    assert text == "graph empty() -> () {\n  return\n}\n"
    assert print_graph(parse_graph(text)) == text


# inline constants ---------------------------------------------------------------
@pytest.mark.parametrize(
    "array, text",
    [
        (np.array(0.125, f32), "f32[] = 0.125"),
        (np.array([0.1, -0.0, np.inf, np.nan], f32), "f32[4] = [0.1, -0.0, inf, nan]"),
        (np.array([1e-45, 3.4028235e38], f32), "f32[2] = [1e-45, 3.4028235e+38]"),
        (np.array([0.1, 65504], np.float16), "f16[2] = [0.1, 6.55e+04]"),
        (np.array([-(2**63), 2**63 - 1], np.int64), f"i64[2] = [{-(2**63)}, {2**63 - 1}]"),
        (np.array([[7], [-7]], np.int32), "i32[2,1] = [[7], [-7]]"),
        (np.array(True), "bool[] = true"),
        (np.zeros((2, 0), f32), "f32[2,0] = [[], []]"),
    ],
)
def test_inline_constants(array: np.ndarray, text: str) -> None:
    g = Graph()
    g.add_constant("c", array)
    printed = print_graph(g)
    assert f"  @c: {text}\n" in printed
    back = parse_graph(printed).constants["c"].const
    assert back is not None and back.dtype == array.dtype and back.shape == array.shape
    assert _same_bits(back, array)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, bit for bit except NaN payloads (the text spells every NaN ``nan``)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b))) and a[~nan].tobytes() == b[~nan].tobytes()


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(st.sampled_from([f32, np.float16]), hnp.array_shapes(min_dims=0, max_side=4)))
def test_inline_floats_round_trip_bit_exactly(array: np.ndarray) -> None:
    g = Graph()
    g.add_constant("c", array)
    back = parse_graph(print_graph(g), {"c": array}).constants["c"].const
    assert back is not None and _same_bits(back, array)


def test_large_constants_are_declared_and_take_data_from_the_mapping() -> None:
    g = Graph()
    g.add_constant("w", np.ones(17, f32))
    text = print_graph(g)
    assert "  @w: f32[17]\n" in text
    assert parse_graph(text).constants["w"].const is None
    data = np.arange(17, dtype=f32)
    back = parse_graph(text, {"w": data}).constants["w"].const
    assert back is not None and np.array_equal(back, data)
    assert data.flags.writeable  # the caller's array is not frozen


# names and attributes -------------------------------------------------------------
@pytest.mark.parametrize(
    "name, text",
    [
        ("layers.0.attn.q_proj", "layers.0.attn.q_proj"),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("line\nbreak", '"line\\nbreak"'),
        ("名前", '"名前"'),
        ("", '""'),
    ],
)
def test_names_are_quoted_when_needed(name: str, text: str) -> None:
    assert quote_name(name) == text
    g = Graph(name)
    x = g.add_input(name, TensorType.of("f32", [2]))
    c = g.add_constant(name + "@c", np.zeros(2, f32))
    g.outputs = [g.add("add", [x, c], names=[name + "%y"]).output]
    printed = print_graph(g)
    back = parse_graph(printed)
    assert print_graph(back) == printed
    assert back.name == name
    assert [v.name for v in back.outputs] == [name + "%y"]


def test_float_attributes_round_trip_exactly() -> None:
    g = Graph()
    x = g.add_input("x", TensorType.of("f32", [2]))
    for lo, hi in [(0.1, 1e300), (-0.0, 5e-324), (math.nan, 6.0)]:
        g.add("clip", [x], {"min": lo, "max": hi})
    text = print_graph(g)
    assert "{max=1e+300, min=0.1}" in text
    assert "{max=5e-324, min=-0.0}" in text
    assert "{max=6.0, min=nan}" in text
    assert print_graph(parse_graph(text)) == text


def test_every_registered_default_reads_back() -> None:
    for opdef in OPS.values():
        for name, spec in opdef.attrs.items():
            if spec.default in (REQUIRED, None):
                continue
            value = spec.normalize(opdef.name, name, spec.default)
            text = format_attr(spec.kind, value)
            back = _attr_value(_Cursor(text, 1), spec.kind)
            assert format_attr(spec.kind, spec.normalize(opdef.name, name, back)) == text


_ALL_KINDS = {
    "i": AttrSpec("int", 0),
    "f": AttrSpec("float", 1.0),
    "b": AttrSpec("bool", False),
    "s": AttrSpec("str", ""),
    "ii": AttrSpec("ints", ()),
    "ff": AttrSpec("floats", ()),
    "d": AttrSpec("dim", 1),
    "dd": AttrSpec("dims", ()),
    "t": AttrSpec("dtype", "f32"),
    "opt": AttrSpec("int", None),
}


@pytest.fixture(scope="module")
def all_kinds_op() -> Iterator[str]:
    """A throwaway op with an attribute of every kind, registered only for this module."""
    name = "_test_all_attr_kinds"
    OPS[name] = OpDef(
        name, ("x",), lambda types, attrs: [types[0]], lambda ins, attrs: [ins[0]], _ALL_KINDS
    )
    yield name
    del OPS[name]


_dims = st.sampled_from(["N", "-1", "0", "N*S", "(H-3)//2+1", "2*((N+1)//2)", "-N+4"])
_attr_values = st.fixed_dictionaries(
    {},
    optional={
        "i": st.integers(-(2**63), 2**63 - 1),
        "f": st.floats(),
        "b": st.booleans(),
        "s": st.text(),
        "ii": st.lists(st.integers(-9, 9), max_size=4),
        "ff": st.lists(st.floats(), max_size=4),
        "d": _dims,
        "dd": st.lists(_dims, max_size=4),
        "t": st.sampled_from(["f32", "f16", "i64", "i32", "bool"]),
        "opt": st.integers(),
    },
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(attrs=_attr_values)
def test_every_attribute_kind_round_trips(all_kinds_op: str, attrs: dict[str, Any]) -> None:
    g = Graph()
    x = g.add_input("x", TensorType.of("f32", [2]))
    node = g.add(all_kinds_op, [x], attrs)
    text = print_graph(g)
    back = next(iter(parse_graph(text).nodes))
    assert print_graph(parse_graph(text)) == text
    assert {k: repr(v) for k, v in back.attrs.items()} == {
        k: repr(v) for k, v in node.attrs.items()
    }


# random graphs ------------------------------------------------------------------------
_names = st.text(min_size=1, max_size=6)
_shapes = st.sampled_from([["N", 4], [2, 3], ["(H-3)//2+1", "N*S"], []])
_arrays = hnp.arrays(
    st.sampled_from([f32, np.float16, np.int64, np.int32, np.bool_]),
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
)


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    used: set[str] = set()

    def fresh() -> str:
        name = draw(_names)
        while name in used:
            name += "'"
        used.add(name)
        return name

    g = Graph(draw(_names))
    t = TensorType.of("f32", draw(_shapes))
    pool = [g.add_input(fresh(), t) for _ in range(draw(st.integers(1, 3)))]
    for array in draw(st.lists(_arrays, max_size=3)):
        g.add_constant(fresh(), array)
    pool.append(g.add_constant(fresh(), np.array(draw(st.floats(width=32)), f32)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["relu", "gelu", "clip", "add", "mul", "cast"]))
        ins = [draw(st.sampled_from(pool)) for _ in range(2 if op in ("add", "mul") else 1)]
        attrs: dict[str, Any] = {
            "gelu": {"approximate": draw(st.sampled_from(["none", "tanh"]))},
            "clip": {"min": draw(st.floats()), "max": draw(st.floats())},
            "cast": {"to": "f32"},
        }.get(op, {})
        node = g.add(op, ins, attrs, names=[fresh()], loc=draw(st.text(max_size=8)))
        pool.append(node.output)
    g.outputs = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    return g


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_print_parse_print_is_the_identity(g: Graph) -> None:
    data = {name: c.const for name, c in g.constants.items() if c.const is not None}
    text = print_graph(g)
    back = parse_graph(text, data)
    assert print_graph(back) == text
    verify(back)
    for name, c in g.constants.items():
        got = back.constants[name].const
        assert got is not None and c.const is not None and _same_bits(got, c.const)
    assert [n.loc for n in back.nodes] == [n.loc for n in g.nodes]


# parse errors -------------------------------------------------------------------------
HEAD = "graph g(%x: f32[2]) -> (f32[2]) {\n"


def _error(text: str, constants: dict[str, np.ndarray] | None = None) -> str:
    with pytest.raises(ParseError) as info:
        parse_graph(text, constants)
    return str(info.value)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("  %y = relu(%x : f32[2]\n", "line 2, column 16: expected ',' or ')', found ':'"),
        ("  %y = rleu(%x) : f32[2]\n", "line 2, column 8: unknown op 'rleu'"),
        ("  %y = relu(%z) : f32[2]\n", "line 2, column 13: undefined value %z"),
        (
            "  %x = relu(%x) : f32[2]\n",
            "line 2, column 4: value name 'x' is already defined on line 1",
        ),
        (
            "  %y = relu(%x) : f32[3]\n",
            "line 2, column 19: %y is declared f32[3] but relu infers f32[2]",
        ),
        (
            "  %y = relu(%x) {alpha=1} : f32[2]\n",
            "line 2, column 18: relu has no attribute 'alpha'",
        ),
        ("  %y = clip(%x) {min=low} : f32[2]\n", "line 2, column 22: expected a float"),
        (
            "  %y = relu(%x) : f31[2]\n",
            "line 2, column 19: expected a dtype (f32, f16, i64, i32, bool), found 'f31'",
        ),
        ("  %y = relu(%x) : f32[N+]\n", "line 2, column 23: bad dimension 'N+'"),
        (
            "  %y = relu(%x) : f32[2] extra\n",
            "line 2, column 26: expected end of line, found 'extra'",
        ),
        ("  %y = add(%x, %x, %x) : f32[2]\n", "line 2, column 8: add takes 2 inputs (a, b), got 3"),
        (
            "  %y, %z = relu(%x) : f32[2], f32[2]\n",
            "line 2, column 12: relu gives 1 output(s) but the line names 2",
        ),
        (
            "  %y = relu(%x) : f32[2], f32[2]\n",
            "line 2, column 8: 1 output(s) named but 2 type(s) given",
        ),
        ("  %y = cast(%x) : f32[2]\n", "line 2, column 17: cast: attribute 'to' is required"),
        (
            "  @c: f32[2] = [1.0]\n",
            "line 2, column 16: the data does not fill the declared type f32[2]",
        ),
        ("  @c: i64[1] = [1.5]\n", "line 2, column 18: expected ',' or ']', found '.5]'"),
        ("  y = relu(%x) : f32[2]\n", "line 2, column 3: expected a constant (@name: ...), a node"),
        (
            "  return %x, %x\n}\n",
            "line 2, column 10: returns (f32[2], f32[2]) but the header declares (f32[2])",
        ),
        ("  return %x\n", "line 2: expected '}' after 'return', found no more text"),
        ("  return %x\n}\n}\n", "line 4, column 1: expected no more text after the closing '}'"),
        ("  %y = relu(%x) : f32[2]\n", "line 2: expected 'return' and '}' to close the graph"),
    ],
)
def test_parse_errors_say_where_and_what(body: str, expected: str) -> None:
    assert expected in _error(HEAD + body)


def test_a_constant_written_as_a_value_gets_a_hint() -> None:
    message = _error(HEAD + "  @c: f32[2] = [1.0, 2.0]\n  %y = add(%x, %c) : f32[2]\n")
    assert "line 3, column 16: undefined value %c" in message
    assert "fix: constants are written @c" in message


def test_unknown_op_suggests_close_names() -> None:
    assert "did you mean relu" in _error(HEAD + "  %y = rleu(%x) : f32[2]\n")


def test_error_shows_the_line_and_a_caret() -> None:
    message = _error(HEAD + "  %y = relu(%x : f32[2]\n")
    assert "  |   %y = relu(%x : f32[2]\n  |                ^" in message


def test_header_errors() -> None:
    assert "line 1, column 1: expected 'graph'" in _error("grph g() -> () {\n")
    assert "line 1, column 9: expected an input (%name: type)" in _error(
        "graph g(x: f32[2]) -> () {\n"
    )
    assert "line 1: expected 'graph NAME(...)" in _error("\n\n")


def test_constant_data_must_match_its_declaration() -> None:
    text = HEAD + "  @w: f32[17]\n  return %x\n}\n"
    message = _error(text, {"w": np.zeros(17, np.float64)})
    assert (
        "line 2, column 4: data for @w is a float64 array of shape (17,), the text declares f32[17]"
        in message
    )
    message = _error(text, {"w": np.zeros(16, f32)})
    assert "data for @w is a float32 array of shape (16,), the text declares f32[17]" in message


def test_inference_failure_names_the_line() -> None:
    text = "graph g(%x: f32[2], %z: f32[3]) -> (f32[2]) {\n  %y = add(%x, %z) : f32[2]\n"
    assert "line 2, column 8: add: shapes [2] and [3] do not broadcast" in _error(text)
