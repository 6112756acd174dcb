"""``recognize-gelu``: GELU written out with erf or tanh -> ``gelu``.

Golden tests write each arrangement the exporters produce as IR text, with
the constants as exporters store them (float32-rounded: 1.4142135,
0.7978846), and expect one ``gelu`` node named and located like the
formula's last op.

Numeric tolerances: rtol 1e-5, atol 1e-5 for the reference interpreter
before vs after. ``gelu``'s reference evaluates the same formula in float64
and rounds once; the written-out graph rounds to float32 after each of its
~6-9 ops, so the two differ by a few float32 ulps (~1e-7 relative) on
outputs of size O(1). A wrong form (erf for tanh: up to ~5e-4 apart, a
missing half: O(1)) is far outside. onnxruntime's ``Gelu`` (float32
internally) is held to rtol 1e-4, atol 1e-5, as in the fixture tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.text import parse_graph
from nanograph.passes.fusion.gelu import RECOGNIZE_GELU
from tests.fixtures.torch_onnx_fixtures import load_fixture
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
ERF, TANH = "erf-form->gelu", "tanh-form->gelu"
FIXTURE = "decomposed/ln_gelu_classic14"

# Constants as exporters store them, by name.
CONSTANTS = {
    "sqrt2": "1.4142135",
    "inv_sqrt2": "0.70710677",
    "one": "1.0",
    "half": "0.5",
    "two": "2.0",
    "three": "3.0",
    "cubic": "0.044715",
    "sqrt2pi": "0.7978846",
}

# x * Phi(x): the erf argument x / sqrt(2), or x * (1 / sqrt(2)).
ERF_ARGUMENT = {
    "div": ["%s = div(%x, @sqrt2)"],
    "mul": ["%s = mul(@inv_sqrt2, %x)"],
}
ERF_PHI = ["%e = erf(%s)", "%p = add(@one, %e)"]

# The tanh form's cube: pow(x, 3), x * (x * x), (x * x) * x.
CUBE = {
    "pow": ["%c = pow(%x, @three)"],
    "x*(x*x)": ["%xx = mul(%x, %x)", "%c = mul(%x, %xx)"],
    "(x*x)*x": ["%xx = mul(%x, %x)", "%c = mul(%xx, %x)"],
}
TANH_PHI = [
    "%a = mul(@cubic, %c)",
    "%i = add(%x, %a)",
    "%z = mul(%i, @sqrt2pi)",
    "%th = tanh(%z)",
    "%p = add(%th, @one)",
]

# 0.5 * x * (1 + phi) in each association; %p is (1 + phi).
HALF = {
    "(x*p)*0.5": ["%t = mul(%x, %p)", "%y = mul(%t, @half)"],
    "(0.5*x)*p": ["%t = mul(@half, %x)", "%y = mul(%t, %p)"],
    "x*(p*0.5)": ["%t = mul(%p, @half)", "%y = mul(%x, %t)"],
    "(p*x)/2": ["%t = mul(%p, %x)", "%y = div(%t, @two)"],
    "(x/2)*p": ["%t = div(%x, @two)", "%y = mul(%p, %t)"],
}


def _graph_text(lines: list[str], dtype: str = "f32", shape: str = "N,4") -> str:
    """A graph of ``lines`` (``%out = op(...)``, every value of type ``dtype[shape]``) on input
    ``%x``, returning ``%y``, with the constants it uses declared as 0-d ``dtype``."""
    body = "\n".join(lines)
    used = [name for name in CONSTANTS if f"@{name})" in body or f"@{name}," in body]
    ty = f"{dtype}[{shape}]"
    out = [f"graph g(%x: {ty}) -> ({ty}) {{"]
    out += [f"  @{name}: {dtype}[] = {CONSTANTS[name]}" for name in used]
    out += [f"  {line} : {ty}  # m.py:{k + 1}" for k, line in enumerate(lines)]
    return "\n".join([*out, "  return %y", "}", ""])


def _gelu_text(approximate: str, loc: int, dtype: str = "f32") -> str:
    attrs = ' {approximate="tanh"}' if approximate == "tanh" else ""
    ty = f"{dtype}[N,4]"
    return (
        f"graph g(%x: {ty}) -> ({ty}) {{\n  %y = gelu(%x){attrs} : {ty}  # m.py:{loc}\n"
        "  return %y\n}\n"
    )


# golden: where it fires -----------------------------------------------------------------------
def test_pytorch_classic_erf_form_becomes_gelu() -> None:
    text = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  @sqrt2: f32[] = 1.4142135
  @one: f32[] = 1.0
  @half: f32[] = 0.5
  %s = div(%x, @sqrt2) : f32[N,4]  # m.py:1
  %e = erf(%s) : f32[N,4]  # m.py:2
  %p = add(%e, @one) : f32[N,4]  # m.py:3
  %t = mul(%x, %p) : f32[N,4]  # m.py:4
  %y = mul(%t, @half) : f32[N,4]  # m.py:5
  return %y
}
"""
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == _gelu_text("none", loc=5)
    assert result.stats == {ERF: 1, "dead constants": 3}
    assert [str(r) for r in result.rewrites] == [
        f"{ERF}: mul %y + mul %t + add %p + erf %e + div %s -> gelu %y "
        "at m.py:5, m.py:4, m.py:3, m.py:2, m.py:1"
    ]


@pytest.mark.parametrize("half", HALF)
@pytest.mark.parametrize("argument", ERF_ARGUMENT)
def test_every_erf_arrangement_becomes_gelu(argument: str, half: str) -> None:
    lines = [*ERF_ARGUMENT[argument], *ERF_PHI, *HALF[half]]
    after, result = run_text(RECOGNIZE_GELU, _graph_text(lines))
    assert after == _gelu_text("none", loc=len(lines))
    assert result.stats[ERF] == 1


@pytest.mark.parametrize("half", HALF)
@pytest.mark.parametrize("cube", CUBE)
def test_every_tanh_arrangement_becomes_gelu_tanh(cube: str, half: str) -> None:
    lines = [*CUBE[cube], *TANH_PHI, *HALF[half]]
    after, result = run_text(RECOGNIZE_GELU, _graph_text(lines))
    assert after == _gelu_text("tanh", loc=len(lines))
    assert result.stats[TANH] == 1


def test_float16_constants_match_within_their_rounding() -> None:
    lines = [*CUBE["pow"], *TANH_PHI, *HALF["(0.5*x)*p"]]
    text = _graph_text(lines, dtype="f16")
    # f16 stores 0.044715 as 0.04470825 and sqrt(2/pi) as 0.7978516 (4e-4 relative off).
    text = text.replace("= 0.044715", "= 0.04470825").replace("= 0.7978846", "= 0.7978516")
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == _gelu_text("tanh", loc=len(lines), dtype="f16")
    assert result.stats[TANH] == 1


# golden: where it must not fire, and why -----------------------------------------------------
def test_a_wrong_half_is_a_near_miss_naming_the_constant() -> None:
    lines = [*ERF_ARGUMENT["div"], *ERF_PHI, *HALF["(x*p)*0.5"]]
    text = _graph_text(lines).replace("= 0.5", "= 0.6")
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == text
    assert [str(m) for m in result.near_misses] == [
        f"{ERF} at mul %y (m.py:5): matched 5/5 ops, then %half is not a one-element float "
        "constant = 0.5"
    ]


def test_a_wrong_cubic_coefficient_is_a_near_miss() -> None:
    lines = [*CUBE["pow"], *TANH_PHI, *HALF["(x*p)*0.5"]]
    text = _graph_text(lines).replace("= 0.044715", "= 0.05")
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == text
    assert [m.reason for m in result.near_misses] == [
        "%cubic is not a one-element float constant = 0.044715"
    ]


def test_erf_of_another_tensor_is_a_near_miss() -> None:
    lines = [*ERF_ARGUMENT["div"], *ERF_PHI, *HALF["(x*p)*0.5"]]
    text = _graph_text(lines).replace(
        "graph g(%x: f32[N,4])", "graph g(%x: f32[N,4], %w: f32[N,4])"
    )
    text = text.replace("div(%x, @sqrt2)", "div(%w, @sqrt2)")
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == text
    assert [m.reason for m in result.near_misses] == ["%w is not %x (both must be 'x')"]


def test_constants_that_broadcast_x_are_refused() -> None:
    text = """\
graph g(%x: f32[4]) -> (f32[1,4]) {
  @sqrt2: f32[] = 1.4142135
  @one: f32[] = 1.0
  @half: f32[1,1] = [[0.5]]
  %s = div(%x, @sqrt2) : f32[4]  # m.py:1
  %e = erf(%s) : f32[4]  # m.py:2
  %p = add(%e, @one) : f32[4]  # m.py:3
  %t = mul(%x, %p) : f32[4]  # m.py:4
  %y = mul(%t, @half) : f32[1,4]  # m.py:5
  return %y
}
"""
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == text
    assert [m.reason for m in result.near_misses] == [
        "its constants broadcast %x: f32[4] to f32[1,4], which gelu(x) cannot"
    ]


def test_a_plain_scaling_is_not_news() -> None:
    text = _graph_text(["%t = mul(%x, @half)", "%y = mul(%t, %x)"])
    after, result = run_text(RECOGNIZE_GELU, text)
    assert after == text
    assert not result.changed and result.near_misses == []


# numerics ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lines", "rule"),
    [
        ([*ERF_ARGUMENT["mul"], *ERF_PHI, *HALF["x*(p*0.5)"]], ERF),
        ([*CUBE["x*(x*x)"], *TANH_PHI, *HALF["(p*x)/2"]], TANH),
    ],
)
def test_recognized_gelu_matches_the_formula_and_onnxruntime(lines: list[str], rule: str) -> None:
    graph = parse_graph(_graph_text(lines))
    feeds = {"x": np.linspace(-6.0, 6.0, 64, dtype=np.float32).reshape(16, 4)}
    before = ng.compile(graph, "O0")(**feeds)["y"]
    assert run_graph(RECOGNIZE_GELU, graph).stats[rule] == 1
    after = ng.compile(graph, "O0")(**feeds)["y"]
    np.testing.assert_allclose(after, before, rtol=RTOL, atol=ATOL)
    ort = ng.compile(graph, "O0", backend="ort-cpu")(**feeds)["y"]
    np.testing.assert_allclose(ort, before, rtol=ORT_RTOL, atol=ORT_ATOL)


def test_pytorch_classic_export_gets_both_gelus_back() -> None:
    recorded = load_fixture(FIXTURE)
    graph = import_onnx(recorded.path)
    x, want = recorded.inputs["x"], recorded.outputs["y"]
    result = run_graph(RECOGNIZE_GELU, graph)
    assert {k: v for k, v in result.stats.items() if k != "dead constants"} == {ERF: 1, TANH: 1}
    gelus = [n.attrs["approximate"] for n in graph.nodes if n.op == "gelu"]
    assert gelus == ["none", "tanh"]
    assert not {"erf", "tanh"} & {n.op for n in graph.nodes}  # (the layer norm keeps its pow)
    np.testing.assert_allclose(
        ng.compile(graph, "O0")(x=x)["y"], want, rtol=ORT_RTOL, atol=ORT_ATOL
    )
