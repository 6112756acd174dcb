"""Bad input catalogue, graphs and IR: malformed text IR and graphs that break invariants.

Each case is refused with an error naming the line (text IR) or node loc
(``m.py:N``) and a ``fix:`` hint.
"""

from __future__ import annotations

import pytest

from nanograph.ir.errors import ParseError, VerificationError
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.ir.types import TensorType
from nanograph.ir.verify import verify
from tests.reliability.clear_error import assert_clear

HEAD = "graph g(%x: f32[2,3]) -> (f32[2,3]) {\n"

TEXT_CASES = {
    "forward-reference": (
        HEAD + "  %a = add(%x, %b) : f32[2,3]\n  %b = relu(%a) : f32[2,3]\n  return %b\n}\n",
        "undefined value %b",
        "line 2",
    ),
    "duplicate-name": (
        HEAD + "  %a = relu(%x) : f32[2,3]\n  %a = exp(%x) : f32[2,3]\n  return %a\n}\n",
        "already defined on line 2",
        "line 3",
    ),
    "unknown-op": (
        HEAD + "  %a = frobnicate(%x) : f32[2,3]\n  return %a\n}\n",
        "unknown op 'frobnicate'",
        "line 2",
    ),
    "declared-type-wrong": (
        HEAD + "  %a = relu(%x) : f32[3,2]\n  return %a\n}\n",
        "declared f32[3,2] but relu infers f32[2,3]",
        "line 2",
    ),
    "axis-out-of-range": (
        HEAD + "  %a = softmax(%x) {axis=5} : f32[2,3]\n  return %a\n}\n",
        "axis 5 is out of range",
        "line 2",
    ),
    "unknown-attribute": (
        HEAD + "  %a = relu(%x) {alpha=1.0} : f32[2,3]\n  return %a\n}\n",
        "relu has no attribute 'alpha'",
        "line 2",
    ),
    "int-into-float-op": (
        "graph g(%x: i64[2]) -> (i64[2]) {\n  %a = gelu(%x) : i64[2]\n  return %a\n}\n",
        "input must be a float tensor",
        "line 2",
    ),
    "return-type-mismatch": (
        "graph g(%x: f32[2]) -> (f32[3]) {\n  %a = relu(%x) : f32[2]\n  return %a\n}\n",
        "but the header declares (f32[3])",
        "line 3",
    ),
    "undefined-constant": (
        HEAD + "  %a = add(%x, @w) : f32[2,3]\n  return %a\n}\n",
        "undefined constant @w",
        "line 2",
    ),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_bad_text_ir_is_refused(case: str) -> None:
    text, what, where = TEXT_CASES[case]
    with pytest.raises(ParseError) as info:
        parse_graph(text)
    assert_clear(info.value, ParseError, what, where)


F = TensorType.of("f32", ["N", 4])


def test_a_cyclic_graph_is_refused_naming_the_cycle() -> None:
    g = Graph("cyc")
    x = g.add_input("x", F)
    a = g.add("relu", [x], names=["a"], loc="m.py:1").output
    b = g.add("exp", [a], names=["b"], loc="m.py:2").output
    g.outputs = [b]
    g.set_input(a.producer, 0, b)  # %a = relu(%b), %b = exp(%a): a cycle
    with pytest.raises(VerificationError) as info:
        verify(g)
    assert_clear(info.value, VerificationError, "has a cycle", "m.py:")


def test_a_dangling_value_from_another_graph_is_refused() -> None:
    g = Graph("g")
    x = g.add_input("x", F)
    stray = Graph("other").add_input("stray", F)
    g.outputs = [g.add("add", [x, stray], names=["d"], loc="m.py:6").output]
    with pytest.raises(VerificationError) as info:
        verify(g)
    assert_clear(info.value, VerificationError, "%stray", "m.py:6")
