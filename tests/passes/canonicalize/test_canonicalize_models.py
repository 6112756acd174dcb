"""O1 on every zoo model and every PyTorch ONNX fixture: what it removes, and that it
changes no result.

- Node counts O0 -> O1 and the rewrites per rule are pinned per model, each
  with the reason worked out from the O0 graph (``nanograph show MODEL``),
  and structural facts hold on every O1 graph: no node left whose inputs are
  all constants (but those with symbolic dims, reported as near misses), in
  particular no ``transpose(@weight)``; no transpose of a transpose; no two
  equal nodes.
- Reference interpreter O0 vs O1 (verified after every pass) at two input
  sizes: rtol 1e-6, atol 1e-6. O1 evaluates the same op references on the
  same values in the same order (folding runs them at compile time, the
  other rewrites move no arithmetic), so the results are identical here
  (observed difference: 0); the tolerance only allows for a BLAS that picks
  kernels by buffer alignment, and is far below what a wrong perm, a lost
  op or a misfolded constant gives.
- onnxruntime CPU (one thread) on the O1 export vs the O0 reference, at two
  sizes: rtol 1e-4, atol 1e-5, as ``tests/backends/test_onnx_export_zoo.py``
  (onnxruntime accumulates in float32 in its own order).
- The zoo specialized to N=2, S=7 (as ``--dims`` does): O1 now also folds the
  shape work on constants (position rows, the class token, band masks);
  counts and numbers as above.
- Fixtures: O1 vs O0 on the recorded inputs (as above), and O1 vs PyTorch's
  recorded outputs at rtol 1e-4, atol 1e-5, as the importer's own test.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import specialize
from nanograph.passes import PIPELINES
from nanograph.zoo import MODELS
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

RTOL, ATOL = 1e-6, 1e-6
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
SIZES = ({"N": 1, "S": 5}, {"N": 3, "S": 11})

# model: (nodes at O0, nodes at O1, rewrites per rule)
ZOO: dict[str, tuple[int, int, dict[str, int]]] = {
    # the 3 Linear layers' transpose(@weight) are folded
    "lenet": (18, 15, {"fold-constants": 3}),
    # the classifier's transpose(@weight)
    "resnet_small": (54, 53, {"fold-constants": 1}),
    # 13 transposed weights (6 Linear per layer, 2 layers, and the classifier); per layer,
    # k's head split [0,2,1,3] and k^T [0,1,3,2] become one transpose [0,2,3,1]; the two
    # layers' equal attention scales become one constant
    "pos_tagger": (
        79,
        64,
        {"fold-constants": 13, "transpose-of-transpose": 2, "cse-constant": 1},
    ),
    # as pos_tagger, and the slice of the whole 65-row position table is removed
    "vit_tiny": (
        85,
        69,
        {"fold-constants": 13, "transpose-of-transpose": 2, "slice-whole": 1, "cse-constant": 1},
    ),
    # the classifier's transpose(@weight)
    "sagan": (25, 24, {"fold-constants": 1}),
    # 14 transposed weights (the input projection too), 2 composed transposes; the band
    # mask: layer 0 computes range(S) twice (1 merged), layer 1 recomputes layer 0's whole
    # mask (range twice, 2 unsqueezes, sub, abs, less_equal: 7 merged); the scale, the
    # band width and -inf scalars of the two layers (3 merged)
    "banded_speech": (
        96,
        72,
        {"fold-constants": 14, "transpose-of-transpose": 2, "cse": 8, "cse-constant": 3},
    ),
}
# specialized to N=2, S=7 (as ``--dims``): the shape work on constants is static now
SPECIALIZED = {"N": 2, "S": 7}
ZOO_SPECIALIZED: dict[str, tuple[int, int, dict[str, int]]] = {
    **{name: ZOO[name] for name in ("lenet", "resnet_small", "sagan")},
    # and the first 7 rows of the position table (slice(@pos.pe) {ends=[S]})
    "pos_tagger": (
        79,
        63,
        {"fold-constants": 14, "transpose-of-transpose": 2, "cse-constant": 1},
    ),
    # and the class token expanded to the batch (expand(@cls_token) {shape=[N,1,64]})
    "vit_tiny": (
        85,
        68,
        {"fold-constants": 14, "transpose-of-transpose": 2, "slice-whole": 1, "cse-constant": 1},
    ),
    # specialize folded the 4 ranges; O1 folds the position rows and each layer's band
    # mask (2 unsqueezes, sub, abs, less_equal), 14 transposed weights: 25 folds
    "banded_speech": (
        92,
        65,
        {"fold-constants": 25, "transpose-of-transpose": 2, "cse-constant": 2},
    ),
}
FIXTURE_COUNTS: dict[str, tuple[int, int, dict[str, int]]] = {
    # the importer folds Gemm's transposed weight itself: nothing is left to do
    "cnn_bn_classic": (11, 11, {}),
    "cnn_bn_dynamo": (11, 11, {}),
    # unsqueeze(reshape(qkv)) -> one reshape; the exporter's two equal scales
    # (sqrt(1/sqrt(8)), for q and for k^T) -> one constant
    "encoder_layer_classic": (40, 39, {"reshape-of-reshape": 1, "cse-constant": 1}),
    # unsqueeze(reshape) -> one reshape; reshape(reshape(k)) back to k's own shape is
    # removed (2 nodes), so k's two transposes meet and compose into one
    "encoder_layer_dynamo": (41, 37, {"reshape-of-reshape": 2, "transpose-of-transpose": 1}),
    "mha_classic": (21, 21, {}),
    "mha_dynamo": (21, 21, {}),
}

_TRACED: dict[str, tuple[Graph, ng.ModelSpec]] = {}


def traced(name: str) -> tuple[Graph, ng.ModelSpec]:
    if name not in _TRACED:
        module, spec = MODELS[name].build()
        _TRACED[name] = (ng.trace(module, spec, name=name), spec)
    return _TRACED[name]


def _feeds(spec: ng.ModelSpec, seed: int, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    return spec.random_inputs(seed, {k: v for k, v in sizes.items() if k in spec.symbols()})


def _check_canonical(graph: Graph) -> None:
    """What no O1 graph may still contain."""
    keys = Counter((n.op, tuple(id(v) for v in n.inputs), n.attrs) for n in graph.nodes)
    assert max(keys.values(), default=0) == 1, "two equal nodes are left"
    for node in graph.nodes:
        where = f"{node.op} %{node.outputs[0].name}"
        if all(v.is_const for v in node.inputs):
            assert not all(v.type.is_static for v in node.outputs), f"{where} is foldable"
        if node.op == "transpose":
            assert node.inputs[0].producer is None or node.inputs[0].producer.op != "transpose"
            assert not node.inputs[0].is_const, f"{where} transposes a constant"


def test_o1_runs_the_canonicalization_passes_in_their_documented_order() -> None:
    names = [p.name for p in PIPELINES["O1"]]
    assert names == ["fold-shapes", "simplify", "fold-constants", "cse", "dce"]


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_shrinks_as_expected_and_computes_the_same(name: str) -> None:
    assert set(ZOO) == set(MODELS)
    graph, spec = traced(name)
    before, after, fired = ZOO[name]
    o0 = ng.compile(graph, "O0")
    o1 = ng.compile(graph, "O1", verify_each=True)
    report = o1.report
    assert (report.nodes_before, report.nodes_after) == (before, after)
    assert dict(report.passes.rewrite_counts()) == fired
    _check_canonical(o1.graph)
    for seed, sizes in enumerate(SIZES):
        feeds = _feeds(spec, seed, sizes)
        want, got = o0(feeds), o1(feeds)
        assert list(got) == list(want)
        for key, array in want.items():
            np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", list(ZOO_SPECIALIZED))
def test_specialized_zoo_model_folds_its_static_shape_work(name: str) -> None:
    graph, spec = traced(name)
    dims = {k: v for k, v in SPECIALIZED.items() if k in spec.symbols()}
    graph = specialize(graph, dims)
    before, after, fired = ZOO_SPECIALIZED[name]
    o1 = ng.compile(graph, "O1", verify_each=True)
    assert (o1.report.nodes_before, o1.report.nodes_after) == (before, after)
    assert dict(o1.report.passes.rewrite_counts()) == fired
    assert o1.report.passes.near_misses == []
    _check_canonical(o1.graph)
    feeds = spec.random_inputs(0, dims)
    want, got = ng.compile(graph, "O0")(feeds), o1(feeds)
    for key, array in want.items():
        np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_at_o1_matches_the_reference_in_onnxruntime(name: str) -> None:
    graph, spec = traced(name)
    reference = ng.compile(graph, "O0")
    ort = ng.compile(graph, "O1", backend="ort-cpu", threads=1)
    assert ort.report.nodes_after == ZOO[name][1]
    for seed, sizes in enumerate(SIZES):
        feeds = _feeds(spec, seed, sizes)
        want, got = reference(feeds), ort(feeds)
        assert list(got) == list(want)
        for key, array in want.items():
            assert got[key].shape == array.shape
            np.testing.assert_allclose(got[key], array, rtol=ORT_RTOL, atol=ORT_ATOL)


@pytest.mark.parametrize("stem", list(FIXTURE_COUNTS))
def test_onnx_fixture_shrinks_as_expected_and_computes_the_same(stem: str) -> None:
    assert {p.stem for p in ONNX_FIXTURES.glob("*.onnx")} == set(FIXTURE_COUNTS)
    recorded = load_fixture(stem)
    graph = import_onnx(recorded.path)
    before, after, fired = FIXTURE_COUNTS[stem]
    o1 = ng.compile(graph, "O1", verify_each=True)
    assert (o1.report.nodes_before, o1.report.nodes_after) == (before, after)
    assert dict(o1.report.passes.rewrite_counts()) == fired
    _check_canonical(o1.graph)
    inputs, torch_outputs = recorded.inputs, recorded.outputs
    want, got = ng.compile(graph, "O0")(inputs), o1(inputs)
    for key, array in want.items():
        np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL, err_msg=key)
        np.testing.assert_allclose(got[key], torch_outputs[key], rtol=ORT_RTOL, atol=ORT_ATOL)
