"""What ``nanograph run`` does by default: backend ``numpy`` at ``O3`` (fusions, layout
planning, the planned executor) on every zoo model and every PyTorch ONNX fixture.

Oracle: the reference interpreter on the unoptimized graph (O0), and PyTorch's recorded
outputs for the fixtures. Tolerances rtol 1e-4 / atol 1e-5: the fusions, the layout's
transposed weights and the executor's kernels (GEMM-based convolutions, the vectorised
erf, blocked attention) all reorder float32 sums; observed differences are below 1e-6
on outputs of size ~1, while a wrong layout or kernel is off by 1e-2 or more.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.zoo import MODELS
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

RTOL, ATOL = 1e-4, 1e-5
FIXTURES = sorted(
    str(p.relative_to(ONNX_FIXTURES).with_suffix("")) for p in ONNX_FIXTURES.rglob("*.onnx")
)


def assert_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) >= set(want)
    for key, array in want.items():
        assert got[key].shape == array.shape and got[key].dtype == array.dtype
        np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_at_o3_on_the_executor_matches_the_reference(name: str) -> None:
    module, spec = MODELS[name].build()
    graph = ng.trace(module, spec, name=name)
    exe = ng.compile(graph, "O3", "numpy", verify_each=True)
    assert exe.report.pipeline[-3:] == ("plan-layout", "simplify", "dce")
    reference = ng.compile(graph, "O0", "numpy-ref")
    for seed, sizes in enumerate(({"N": 1, "S": 7}, {"N": 4, "S": 12})):
        dims = {k: v for k, v in sizes.items() if k in spec.symbols()}
        feeds = spec.random_inputs(seed, dims)
        assert_close(exe(feeds), reference(feeds))


@pytest.mark.parametrize("name", FIXTURES)
def test_pytorch_export_at_o3_on_the_executor_matches_pytorch(name: str) -> None:
    fixture = load_fixture(name)
    exe = ng.compile(import_onnx(fixture.model), "O3", "numpy", verify_each=True)
    assert_close(exe(fixture.inputs), fixture.outputs)
