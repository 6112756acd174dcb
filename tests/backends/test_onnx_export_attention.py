"""The three lowerings of ``attention`` vs the reference, through onnxruntime (CPU).

Hand-built graphs with one ``attention`` node: causal, window, bool and
additive masks (several broadcast shapes), Sq != Skv, Dv != D, explicit
scale; each in the 4-D form (q/k/v [B,H,S,D]) and the packed 3-D form
(q/k/v [B,S,H*D], ``num_heads=H``), exported with ``onnx`` (opset 23 and 25:
native windows), ``ms`` (com.microsoft.MultiHeadAttention) and ``plain``, run
at two sizes from one file. Tolerances rtol 1e-4, atol 1e-5 (float32 in onnxruntime vs
the float64-accumulating reference).

All-hidden rows (a query none of whose keys is visible) are NaN in the
reference; the documented behaviour per lowering is asserted exactly:
``onnx`` gives zeros, ``ms`` and ``plain`` give NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.reference import run_reference
from nanograph.ir.dims import substitute
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType

RTOL, ATOL = 1e-4, 1e-5
SIZES = ({"B": 1, "S": 4, "T": 6}, {"B": 2, "S": 5, "T": 3})
LOWERINGS = [("onnx", 23), ("onnx", 25), ("ms", 23), ("ms", 17), ("plain", 17), ("plain", 23)]
ALL_HIDDEN = {"onnx": "zeros", "ms": "nan", "plain": "nan"}


def attention_graph(
    sq: Any = "S",
    skv: Any = "S",
    mask: tuple[str, tuple[Any, ...]] | None = None,
    dv: int = 8,
    heads: Any = 2,
    packed: bool = False,
    **attrs: Any,
) -> Graph:
    """One attention node; ``packed``: q/k/v [B,S,H*D] with ``num_heads=heads``."""
    g = Graph("att")

    def qkv(name: str, seq: Any, size: int) -> Any:
        shape = ("B", seq, heads * size) if packed else ("B", heads, seq, size)
        return g.add_input(name, TensorType.of("f32", shape))

    inputs = [qkv("q", sq, 8), qkv("k", skv, 8), qkv("v", skv, dv)]
    if packed:
        attrs["num_heads"] = heads
    if mask is not None:
        inputs.append(g.add_input("mask", TensorType.of(*mask)))
    node = g.add("attention", inputs, attrs, loc="model.py:7", names=["y"])
    g.outputs = [node.output]
    return g


def feeds(graph: Graph, dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        shape = tuple(int(substitute(d, dims)) for d in v.type.shape)
        if v.type.dtype.value == "bool":
            out[v.name] = rng.random(shape) > 0.3
        else:
            out[v.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def run_ort(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, inputs)[0]


def expected(reference: np.ndarray, lowering: str) -> np.ndarray:
    """The reference with all-hidden (NaN) rows as the lowering documents them."""
    return np.nan_to_num(reference, nan=0.0) if ALL_HIDDEN[lowering] == "zeros" else reference


CONFIGS = {
    "plain": {},
    "causal": {"causal": True},
    "causal-cross": {"skv": "T", "causal": True},
    "window": {"window": 1},
    "window-cross": {"sq": 3, "skv": 5, "window": 1},
    "causal-window": {"causal": True, "window": 2},
    "bool-mask": {"skv": "T", "mask": ("bool", ("B", 1, "S", "T"))},
    "bool-keys": {"skv": "T", "mask": ("bool", ("T",))},
    "additive-mask": {"skv": "T", "mask": ("f32", ("S", "T"))},
    "additive-keys": {"skv": "T", "mask": ("f32", ("B", 1, 1, "T"))},
    "causal-bool": {"causal": True, "mask": ("bool", ("B", 2, "S", "S"))},
    "window-additive": {"skv": "T", "window": 1, "mask": ("f32", ("B", 1, "S", "T"))},
    "dv-scale": {"skv": "T", "dv": 5, "scale": 0.3, "mask": ("bool", (1, "T"))},
}


@pytest.mark.parametrize(("lowering", "opset"), LOWERINGS, ids=[f"{a}@{o}" for a, o in LOWERINGS])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
def test_lowering_matches_reference(config: str, lowering: str, opset: int, packed: bool) -> None:
    graph = attention_graph(**CONFIGS[config], packed=packed)
    model = export_onnx(graph, opset=opset, attention=lowering)
    for seed, dims in enumerate(SIZES):
        inputs = feeds(graph, dims, seed)
        want = expected(run_reference(graph, inputs)["y"], lowering)
        got = run_ort(model, inputs)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)


def all_hidden_cases(packed: bool) -> dict[str, tuple[Graph, dict[str, np.ndarray]]]:
    """Graphs and inputs where some query sees no key at all."""
    bool_graph = attention_graph(skv="T", mask=("bool", ("B", 1, "S", "T")), packed=packed)
    bool_inputs = feeds(bool_graph, {"B": 2, "S": 4, "T": 5}, 0)
    bool_inputs["mask"][1, 0, 2, :] = False
    add_graph = attention_graph(skv="T", mask=("f32", ("S", "T")), packed=packed)
    add_inputs = feeds(add_graph, {"B": 1, "S": 3, "T": 4}, 1)
    add_inputs["mask"][0, :] = -np.inf
    # window 0 with Sq > Skv: queries past the last key see nothing
    window_graph = attention_graph(sq=6, skv=3, window=0, packed=packed)
    window_inputs = feeds(window_graph, {"B": 1}, 2)
    return {
        "bool": (bool_graph, bool_inputs),
        "additive": (add_graph, add_inputs),
        "window": (window_graph, window_inputs),
    }


@pytest.mark.parametrize(("lowering", "opset"), LOWERINGS, ids=[f"{a}@{o}" for a, o in LOWERINGS])
@pytest.mark.parametrize("case", ["bool", "additive", "window"])
@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
def test_all_hidden_rows_are_as_documented(
    case: str, lowering: str, opset: int, packed: bool
) -> None:
    graph, inputs = all_hidden_cases(packed)[case]
    reference = run_reference(graph, inputs)["y"]
    hidden = np.isnan(reference)
    assert hidden.any() and not hidden.all()  # the case has all-hidden rows, and others
    got = run_ort(export_onnx(graph, opset=opset, attention=lowering), inputs)
    if ALL_HIDDEN[lowering] == "zeros":
        assert np.all(got[hidden] == 0.0)
    else:
        assert np.all(np.isnan(got[hidden]))
    np.testing.assert_allclose(got[~hidden], reference[~hidden], rtol=RTOL, atol=ATOL)


def op_types(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def attribute(model: onnx.ModelProto, op_type: str, name: str) -> Any:
    node = next(n for n in model.graph.node if n.op_type == op_type)
    return next(
        (onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None
    )


def test_each_target_emits_its_op() -> None:
    graph = attention_graph(causal=True)
    onnx_model = export_onnx(graph, attention="onnx")
    assert op_types(onnx_model) == ["Attention"] and attribute(onnx_model, "Attention", "is_causal")
    assert {o.domain for o in onnx_model.opset_import} == {""}
    ms = export_onnx(graph, attention="ms")
    assert (
        "MultiHeadAttention" in op_types(ms)
        and attribute(ms, "MultiHeadAttention", "num_heads") == 2
    )
    assert {(o.domain, o.version) for o in ms.opset_import} == {("", 23), ("com.microsoft", 1)}
    plain = export_onnx(graph, attention="plain")
    assert "Softmax" in op_types(plain) and "Attention" not in op_types(plain)
    assert "Attention" in op_types(export_onnx(graph))  # auto at 23
    assert "Attention" not in op_types(export_onnx(graph, opset=22))  # auto below 23: plain


def test_packed_form_is_lowered_natively() -> None:
    """3-D q/k/v go into Attention and MultiHeadAttention as they are: no reshapes."""
    graph = attention_graph(skv="T", mask=("bool", ("B", 1, "S", "T")), packed=True, heads=4)
    onnx_model = export_onnx(graph, attention="onnx")
    assert op_types(onnx_model)[-1] == "Attention"
    assert not {"Reshape", "Transpose"} & set(op_types(onnx_model))
    assert attribute(onnx_model, "Attention", "q_num_heads") == 4
    assert attribute(onnx_model, "Attention", "kv_num_heads") == 4
    ms = export_onnx(attention_graph(causal=True, packed=True, heads=4), attention="ms")
    assert op_types(ms) == ["MultiHeadAttention"]
    assert attribute(ms, "MultiHeadAttention", "num_heads") == 4
    bnsh = export_onnx(attention_graph(causal=True, heads=4), attention="onnx")
    assert attribute(bnsh, "Attention", "q_num_heads") is None
    plain = export_onnx(attention_graph(packed=True), attention="plain")
    assert {"Reshape", "Transpose", "Softmax"} <= set(op_types(plain))


def test_cross_causal_and_old_window_become_masks() -> None:
    cross = export_onnx(attention_graph(skv="T", causal=True), attention="onnx")
    assert attribute(cross, "Attention", "is_causal") == 0
    assert len(next(n for n in cross.graph.node if n.op_type == "Attention").input) == 4
    square = attention_graph(window=2)
    assert attribute(export_onnx(square, opset=25), "Attention", "left_window_size") == 2
    assert attribute(export_onnx(square, opset=24), "Attention", "left_window_size") is None


def test_metadata_says_how_attention_was_lowered() -> None:
    props = {p.key: p.value for p in export_onnx(attention_graph(), attention="ms").metadata_props}
    assert props["nanograph.attention"] == (
        "1 attention node -> com.microsoft.MultiHeadAttention (attention=ms)"
    )


def test_unavailable_choices_are_refused_clearly() -> None:
    graph = attention_graph()
    with pytest.raises(ConfigError, match="needs opset 23 or later, got opset 22"):
        export_onnx(graph, opset=22, attention="onnx")
    with pytest.raises(ConfigError, match="unknown attention lowering 'flash'"):
        export_onnx(graph, attention="flash")
    with pytest.raises(ConfigError, match="static number of heads") as info:
        export_onnx(attention_graph(heads="H"), attention="ms")
    assert info.value.loc == "model.py:7"
