"""ONNX ``Attention`` (opset 23) and ``com.microsoft.MultiHeadAttention`` import as the fused
``attention`` op, heads split/merged around it, and match onnxruntime CPU within rtol 1e-5 /
atol 1e-6 (one softmax over a handful of keys); the forms we refuse say so clearly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import helper

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import UnsupportedOpError

rng = np.random.default_rng(3)
MS = {"com.microsoft": 1}


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def attention(ins: list[str], outs: list[str] | None = None, **attrs: Any) -> Any:
    return helper.make_node("Attention", ins, outs or ["y"], name="/attn", **attrs)


def mha(ins: list[str], outs: list[str] | None = None, **attrs: Any) -> Any:
    return helper.make_node(
        "MultiHeadAttention", ins, outs or ["y"], domain="com.microsoft", name="/mha", **attrs
    )


def spec(feeds: dict[str, np.ndarray]) -> list[tuple[str, str, list[int]]]:
    kinds = {np.float32: "f32", np.bool_: "bool", np.int32: "i32"}
    return [(name, kinds[a.dtype.type], list(a.shape)) for name, a in feeds.items()]


def ops(model: Any) -> list[str]:
    return [node.op for node in import_onnx(model).nodes]


BNSH = {"q": f32(2, 3, 4, 8), "k": f32(2, 3, 6, 8), "v": f32(2, 3, 6, 5)}
BSD = {"q": f32(2, 4, 12), "k": f32(2, 6, 12), "v": f32(2, 6, 12)}


@pytest.mark.parametrize(
    ("attrs", "extra"),
    [
        pytest.param({}, {}, id="plain"),
        pytest.param({"scale": 0.3, "is_causal": 1}, {}, id="scale-causal"),
        pytest.param({}, {"mask": f32(4, 6)}, id="float-mask"),
        pytest.param({}, {"mask": rng.random((2, 1, 4, 6)) < 0.7}, id="bool-mask"),
        pytest.param({"is_causal": 1}, {"mask": rng.random((4, 6)) < 0.7}, id="bool-mask-causal"),
    ],
)
def test_attention_bnsh(onnx_model: Any, onnx_compare: Any, attrs: Any, extra: Any) -> None:
    feeds = {**BNSH, **extra}
    model = onnx_model(
        [attention(list(feeds), **attrs)], spec(feeds), [("y", "f32", [2, 3, 4, 5])], opset=23
    )
    assert "attention" in ops(model)
    onnx_compare(model, feeds)


def test_attention_rows_with_no_visible_key_are_zero_as_in_onnx(
    onnx_model: Any, onnx_compare: Any
) -> None:
    """The IR's attention gives NaN there; ONNX (and onnxruntime) give 0: the importer adds
    the zeroing, so the imported graph means what the ONNX model means."""
    mask = np.ones((2, 1, 4, 6), dtype=bool)
    mask[0, 0, 1, :] = False
    feeds = {**BNSH, "mask": mask}
    model = onnx_model(
        [attention(list(feeds))], spec(feeds), [("y", "f32", [2, 3, 4, 5])], opset=23
    )
    out = onnx_compare(model, feeds)["y"]
    assert np.all(out[0, :, 1, :] == 0) and np.isfinite(out).all()


@pytest.mark.parametrize("kv_heads", [3, 1], ids=["mha", "mqa"])
def test_attention_3d_splits_and_merges_heads(
    onnx_model: Any, onnx_compare: Any, kv_heads: int
) -> None:
    feeds = {"q": f32(2, 4, 12), "k": f32(2, 6, 4 * kv_heads), "v": f32(2, 6, 4 * kv_heads)}
    node = attention(["q", "k", "v"], q_num_heads=3, kv_num_heads=kv_heads, is_causal=1)
    model = onnx_model([node], spec(feeds), [("y", "f32", [2, 4, 12])], opset=23)
    graph_ops = ops(model)
    assert graph_ops.count("attention") == 1 and graph_ops.count("transpose") == 4
    onnx_compare(model, feeds)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (attention(["q", "k", "v", "", "pk", "pv"], ["y", "pko", "pvo"]), "past_key input"),
        (attention(["q", "k", "v"], softcap=30.0), "softcap"),
        (attention(["q", "k", "v"], ["y", "", "", "qk"]), "qk_matmul_output output"),
    ],
)
def test_attention_forms_we_refuse(onnx_model: Any, node: Any, message: str) -> None:
    feeds = dict(BNSH)
    outputs = [("y", "f32", [2, 3, 4, 5])] + [(o, "f32", None) for o in node.output[1:] if o]
    if "pk" in node.input:
        feeds.update(pk=f32(2, 3, 2, 8), pv=f32(2, 3, 2, 5))
        outputs = [
            ("y", "f32", [2, 3, 4, 5]),
            ("pko", "f32", [2, 3, 8, 8]),
            ("pvo", "f32", [2, 3, 8, 5]),
        ]
    elif len(outputs) > 1:
        outputs = [("y", "f32", [2, 3, 4, 5]), ("qk", "f32", [2, 3, 4, 6])]
    model = onnx_model([node], spec(feeds), outputs, opset=23)
    with pytest.raises(UnsupportedOpError, match=message) as err:
        import_onnx(model)
    assert err.value.loc == "/attn"


def test_mha_plain_is_one_fused_attention(onnx_model: Any, onnx_compare: Any) -> None:
    model = onnx_model(
        [mha(["q", "k", "v"], num_heads=3)], spec(BSD), [("y", "f32", [2, 4, 12])], domains=MS
    )
    graph = import_onnx(model)
    assert [n.op for n in graph.nodes].count("attention") == 1
    assert all(n.loc == "/mha" for n in graph.nodes)
    onnx_compare(model, BSD)


def test_mha_with_bias_padding_mask_attention_bias_and_causal(
    onnx_model: Any, onnx_compare: Any
) -> None:
    padding = np.ones((2, 4), dtype=np.int32)
    padding[1, 2:] = 0
    self_attention = {"q": f32(2, 4, 12), "k": f32(2, 4, 12), "v": f32(2, 4, 12)}
    feeds = {**self_attention, "bias": f32(36), "kpm": padding, "ab": f32(1, 3, 4, 4)}
    node = mha(["q", "k", "v", "bias", "kpm", "ab"], num_heads=3, unidirectional=1, scale=0.25)
    model = onnx_model([node], spec(feeds), [("y", "f32", [2, 4, 12])], domains=MS)
    onnx_compare(model, feeds)


def test_mha_causal_cross_attention_is_refused(onnx_model: Any) -> None:
    """onnxruntime's CPU kernel leaves the last query row unmasked when Sq < Skv (found by
    probing it); there is no causal meaning to agree on, so the importer refuses."""
    model = onnx_model(
        [mha(["q", "k", "v"], num_heads=3, unidirectional=1)],
        spec(BSD),
        [("y", "f32", [2, 4, 12])],
        domains=MS,
    )
    with pytest.raises(UnsupportedOpError, match="equal query and key lengths"):
        import_onnx(model)


def test_mha_with_a_3d_padding_mask(onnx_model: Any, onnx_compare: Any) -> None:
    mask = (rng.random((2, 4, 6)) < 0.7).astype(np.int32)
    mask[..., 0] = 1
    feeds = {**BSD, "kpm": mask}
    node = mha(["q", "k", "v", "", "kpm"], num_heads=2)
    model = onnx_model([node], spec(feeds), [("y", "f32", [2, 4, 12])], domains=MS)
    onnx_compare(model, feeds)


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"q": f32(2, 4, 3, 3, 4)}, "packed QKV"),
        ({"q": f32(2, 4, 12), "k": f32(2, 3, 6, 4), "v": f32(2, 3, 6, 4)}, "BNSH"),
        ({**BSD, "kpm": np.array([6, 4], np.int32)}, "key_padding_mask"),
    ],
)
def test_mha_forms_we_refuse(onnx_model: Any, feeds: dict[str, Any], message: str) -> None:
    names = ["q", "k", "v", "", "kpm"][: len(feeds) + (1 if "kpm" in feeds else 0)]
    node = mha(names, num_heads=3)
    model = onnx_model([node], spec(feeds), [("y", "f32", [2, 4, 12])], domains=MS)
    with pytest.raises(UnsupportedOpError, match=message):
        import_onnx(model)


def test_mha_imported_graph_prints_and_parses_back(onnx_model: Any) -> None:
    model = onnx_model(
        [mha(["q", "k", "v"], num_heads=3)], spec(BSD), [("y", "f32", [2, 4, 12])], domains=MS
    )
    graph = import_onnx(model)
    text = ng.print_graph(graph)
    assert ng.print_graph(ng.parse_graph(text)) == text


@pytest.mark.parametrize(
    ("left", "right", "causal"),
    [(1, 1, 0), (2, 0, 0), (1, 3, 1), (1, 2, 0), (-1, 1, 0)],
    ids=["symmetric", "left-only", "causal-left", "asymmetric", "right-only"],
)
def test_attention_25_windows(
    onnx_model: Any, onnx_compare: Any, left: int, right: int, causal: int
) -> None:
    """Sliding windows of opset 25 (onnxruntime has no kernel: checked against the ONNX
    reference implementation, which defines them), on BNSH inputs with Sq > Skv."""
    from onnx.reference import ReferenceEvaluator

    feeds = {"q": f32(1, 2, 7, 4), "k": f32(1, 2, 5, 4), "v": f32(1, 2, 5, 3)}
    node = attention(
        ["q", "k", "v"], left_window_size=left, right_window_size=right, is_causal=causal
    )
    model = onnx_model([node], spec(feeds), [("y", "f32", [1, 2, 7, 3])], opset=25)
    expected = ReferenceEvaluator(model).run(None, feeds)[0]
    graph = import_onnx(model)
    got = run_reference(graph, feeds)["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    attn = next(n for n in graph.nodes if n.op == "attention")
    if left == right or causal or right == 0:
        assert attn.attrs["window"] == max(left, -1) and len(attn.inputs) == 3
    else:
        assert len(attn.inputs) == 4  # the band became a boolean mask
