"""Real PyTorch exports: the importer plus the reference interpreter reproduce PyTorch.

``tests/fixtures/onnx/<model>_<exporter>.onnx`` were written by
``tests/fixtures/make_torch_onnx_fixtures.py`` with both of PyTorch's ONNX
exporters (classic at opset 17, dynamo at opset 18): a CNN with BatchNorm, a
hand-written multi-head attention with an additive mask input, and
``torch.nn.TransformerEncoderLayer``. Each ``.npz`` beside them holds the
inputs and PyTorch's outputs keyed by the ONNX graph's input and output names.

Tolerances: rtol 1e-4, atol 1e-5, as the zoo's PyTorch parity tests. Both
sides compute in float32 but in different orders (NumPy's matmul and our
reference conv against PyTorch's kernels; softmax and LayerNorm reductions),
so results differ by a few ulps per reduction; the outputs are O(1), where
1e-5 is some 100 float32 ulps, far below what any real semantic slip (a wrong
axis, epsilon, scale or mask) produces. onnxruntime CPU runs the same file as
a sanity check of the fixture itself. torch is not imported (CI has none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

RTOL, ATOL = 1e-4, 1e-5
MODELS = ("cnn_bn", "mha", "encoder_layer")
EXPORTERS = {"classic": 17, "dynamo": 18}  # exporter -> the opset it was pinned to
PATHS = sorted(ONNX_FIXTURES.glob("*.onnx"))


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def test_fixtures_cover_every_model_and_exporter() -> None:
    expected = {f"{m}_{e}" for m in MODELS for e in EXPORTERS}
    assert {p.stem for p in PATHS} == expected
    for path in PATHS:
        model = onnx.load(str(path))
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert opset == EXPORTERS[path.stem.rsplit("_", 1)[1]], path.name
        assert path.stat().st_size < 300_000, f"{path.name} is too big for a fixture"


def test_cnn_fixtures_keep_batchnorm() -> None:
    """The exporters fold BN into Conv by default; these fixtures must still carry it."""
    for exporter in EXPORTERS:
        model = onnx.load(str(ONNX_FIXTURES / f"cnn_bn_{exporter}.onnx"))
        assert any(n.op_type == "BatchNormalization" for n in model.graph.node), exporter


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_import_reproduces_pytorch(path: Path) -> None:
    recorded = load_fixture(path.stem)
    inputs, expected = recorded.inputs, recorded.outputs
    graph = import_onnx(path)
    outputs = run_reference(graph, inputs)
    assert set(outputs) == set(expected), "outputs must keep the ONNX output names"
    for name, want in expected.items():
        assert outputs[name].shape == want.shape, name
        np.testing.assert_allclose(outputs[name], want, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_onnxruntime_reproduces_pytorch(path: Path) -> None:
    """Sanity: the fixture itself is right (onnxruntime agrees with PyTorch)."""
    recorded = load_fixture(path.stem)
    inputs, expected = recorded.inputs, recorded.outputs
    outputs = _ort(path, inputs)
    for name, want in expected.items():
        np.testing.assert_allclose(outputs[name], want, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_dynamic_axes_stay_dynamic(path: Path) -> None:
    """Other batch and sequence sizes than the recorded ones: the reference agrees with
    onnxruntime, so the importer folded shape arithmetic symbolically, not to one size."""
    sizes = {"N": 3, "S": 5}  # recorded with N=2, S=7
    rng = np.random.default_rng(7)
    feeds = {}
    for value in onnx.load(str(path)).graph.input:
        dims = value.type.tensor_type.shape.dim
        shape = [sizes[d.dim_param] if d.dim_param else d.dim_value for d in dims]
        feeds[value.name] = rng.standard_normal(shape).astype(np.float32)
    want = _ort(path, feeds)
    outputs = run_reference(import_onnx(path), feeds)
    for name, array in want.items():
        np.testing.assert_allclose(outputs[name], array, rtol=RTOL, atol=ATOL, err_msg=name)
