"""The whole O2 pipeline on every zoo model and every PyTorch-exported fixture.

For each model: the exact number of times each fusion rule fires (the issue's
"Done when": attention and QKV fusion fire on every transformer layer and on
torch.nn.TransformerEncoderLayer's exports), the near misses that remain
(each deliberate, with its reason), and the outputs unchanged:

- reference interpreter at O0 vs O2 (``numpy-ref``), and backend ``numpy``
  (which runs the fused attention kernel) at O2;
- onnxruntime CPU on the O2 export vs the O0 reference;
- for the fixtures, the O2 graph vs PyTorch's recorded outputs.

Tolerances: rtol 1e-4, atol 1e-5 everywhere. The fusions reorder float32
arithmetic (the attention scale is applied to q and k or to the scores; BN is
folded into the weights in float64); observed differences are below 1e-6 on
outputs of size ~1, while a wrong scale, mask or axis is off by ~0.1.
Every compile runs the verifier after each pass (``verify_each``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.passes.pipelines import CANONICALIZE, FUSIONS
from nanograph.zoo import MODELS
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

RTOL, ATOL = 1e-4, 1e-5
FUSION_PASSES = {p.name for p in FUSIONS} - {p.name for p in CANONICALIZE}

ATTENTION, PACKED_HEADS = "attention", "attention-packed-heads"
QKV, PACKED_QKV = "qkv-projections->linear+split", "packed-qkv->split"
LINEAR, LINEAR_ACT = "matmul+add->linear", "linear+activation->linear"
CONV_BN, CONV_ACT = "conv2d+batch_norm->conv2d", "conv2d+activation->fused_conv2d"

# model -> the fusion rules that fire, exactly. A 2-layer encoder: 2 QKV, 2 attention with
# the heads absorbed, 2 activations folded into the first FFN linear, 13-14 linear.
ZOO_FUSIONS: dict[str, dict[str, int]] = {
    "lenet": {CONV_ACT: 2, LINEAR: 3, LINEAR_ACT: 2},
    "resnet_small": {CONV_BN: 15, CONV_ACT: 7, LINEAR: 1},
    "pos_tagger": {ATTENTION: 2, PACKED_HEADS: 2, QKV: 2, LINEAR: 13, LINEAR_ACT: 2},
    "vit_tiny": {ATTENTION: 2, PACKED_HEADS: 2, QKV: 2, LINEAR: 13, LINEAR_ACT: 2},
    "sagan": {"attention-transposed": 1, CONV_BN: 2, CONV_ACT: 2, LINEAR: 1},
    "banded_speech": {ATTENTION: 2, PACKED_HEADS: 2, QKV: 2, LINEAR: 14, LINEAR_ACT: 2},
}
FIXTURE_FUSIONS: dict[str, dict[str, int]] = {
    "cnn_bn_classic": {CONV_BN: 2, CONV_ACT: 2, LINEAR: 1},
    "cnn_bn_dynamo": {CONV_BN: 2, CONV_ACT: 2, LINEAR: 1},
    "mha_classic": {ATTENTION: 1, PACKED_HEADS: 1, QKV: 1, LINEAR: 4},
    "mha_dynamo": {ATTENTION: 1, PACKED_HEADS: 1, QKV: 1, LINEAR: 4},
    "encoder_layer_classic": {ATTENTION: 1, PACKED_QKV: 1, LINEAR: 4, LINEAR_ACT: 1},
    "encoder_layer_dynamo": {ATTENTION: 1, PACKED_QKV: 1, LINEAR: 3, LINEAR_ACT: 1},
    "decomposed/ln_gelu_classic14": {
        "erf-form->gelu": 1,
        "tanh-form->gelu": 1,
        "mean-variance->layer_norm": 1,
        "layer_norm*scale->layer_norm": 1,
        "layer_norm+bias->layer_norm": 1,
        LINEAR: 2,
    },
}
# The near misses O2 leaves, by (model, rule): each is a pattern we deliberately do not fuse.
ZOO_NEAR_MISSES = {
    # the residual add sits between conv and relu; fused_conv2d has no residual input
    "resnet_small": {CONV_ACT: 6},
}
FIXTURE_NEAR_MISSES = {
    # torch's TransformerEncoderLayer splits heads sequence-first ([S, N*H, D]): the
    # attention fuses in its 4-D form, but the head split is not the packed [B, S, H*D] one
    "encoder_layer_classic": {PACKED_HEADS: 1},
    "encoder_layer_dynamo": {PACKED_HEADS: 1},
}


def fusion_counts(report: ng.CompileReport) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for record in report.passes.records:
        if record.name in FUSION_PASSES:
            counts.update(r.rule for r in record.result.rewrites)
    return dict(counts)


def fusion_misses(report: ng.CompileReport) -> dict[str, int]:
    """Near misses of the fusion rules (fold-constants' "symbolic dims" ones are not fusions)."""
    counts: Counter[str] = Counter()
    for record in report.passes.records:
        if record.name in FUSION_PASSES:
            counts.update(m.rule for m in record.result.near_misses)
    return dict(counts)


def zoo(name: str) -> tuple[Graph, ng.ModelSpec]:
    module, spec = MODELS[name].build()
    return ng.trace(module, spec, name=name), spec


def assert_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for key, array in want.items():
        assert got[key].shape == array.shape and got[key].dtype == array.dtype
        np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_fires_exactly_these_fusions(name: str) -> None:
    graph, _ = zoo(name)
    exe = ng.compile(graph, "O2", verify_each=True)
    assert fusion_counts(exe.report) == ZOO_FUSIONS[name]
    assert fusion_misses(exe.report) == ZOO_NEAR_MISSES.get(name, {})
    if ZOO_FUSIONS[name].get(ATTENTION) or ZOO_FUSIONS[name].get("attention-transposed"):
        ops = Counter(n.op for n in exe.graph.nodes)
        assert ops["softmax"] == 0 and ops["attention"] >= 1


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_computes_the_same_at_o2_on_every_backend(name: str) -> None:
    graph, spec = zoo(name)
    dims = {k: v for k, v in {"N": 2, "S": 9}.items() if k in spec.symbols()}
    feeds = spec.random_inputs(3, dims)
    want = ng.compile(graph, "O0")(feeds)
    for backend in ("numpy-ref", "numpy", "ort-cpu"):
        assert_close(ng.compile(graph, "O2", backend, verify_each=True)(feeds), want)


@pytest.mark.parametrize("name", list(FIXTURE_FUSIONS))
def test_pytorch_export_fuses_and_still_matches_pytorch(name: str) -> None:
    recorded = load_fixture(name)
    graph, inputs, torch_outputs = import_onnx(recorded.model), recorded.inputs, recorded.outputs
    exe = ng.compile(graph, "O2", verify_each=True)
    assert fusion_counts(exe.report) == FIXTURE_FUSIONS[name]
    assert fusion_misses(exe.report) == FIXTURE_NEAR_MISSES.get(name, {})
    assert len(exe.graph.nodes) < len(graph.nodes)
    for backend in ("numpy-ref", "numpy", "ort-cpu"):
        got = ng.compile(graph, "O2", backend)(inputs)
        assert_close({k: got[k] for k in torch_outputs}, torch_outputs)


def test_every_fixture_on_disk_is_covered() -> None:
    on_disk = {
        str(p.relative_to(ONNX_FIXTURES).with_suffix("")) for p in ONNX_FIXTURES.rglob("*.onnx")
    }
    assert on_disk == set(FIXTURE_FUSIONS)
