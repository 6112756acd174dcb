"""The CUDA execution provider: outputs vs the NumPy reference, and CUDA ran the heavy nodes.

Run where onnxruntime offers ``CUDAExecutionProvider`` (onnxruntime-gpu on a
CUDA machine; ``pytest -k cuda``); skipped elsewhere with that reason.

Tolerance: rtol 1e-3 / atol 1e-4. float32 on a GPU sums in another order
than NumPy, and onnxruntime's CUDA provider may use TF32 for convolutions
and matmuls (10-bit mantissa inputs, float32 accumulation) on Ampere and
later, which is about 1e-3 relative on these sizes; 1e-4/1e-5 (the CPU
tolerance) would fail on TF32 for no fault of ours.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph import F, nn
from nanograph.backends.ort import OrtRunner, ProviderReport, clear_session_cache, providers
from nanograph.ir.graph import Graph

CUDA, CPU = providers.CUDA, providers.CPU
HAS_CUDA = CUDA in providers.available_providers()
RTOL, ATOL = 1e-3, 1e-4
pytestmark = pytest.mark.skipif(
    not HAS_CUDA,
    reason="onnxruntime CUDAExecutionProvider not available: install onnxruntime-gpu on a "
    "CUDA machine",
)
HEAVY = ("Conv", "MatMul", "Gemm")  # op types as onnxruntime runs them (FusedConv, FusedMatMul)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.fc(F.relu(self.conv(x)).flatten(1))


def convnet_graph() -> Graph:
    nn.manual_seed(0)
    return ng.trace(ConvNet(), ng.InputSpec("x", ("N", 3, 8, 8)), name="convnet")


def inputs(n: int = 4) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(n).standard_normal((n, 3, 8, 8)).astype(np.float32)}


def assert_cuda_ran_the_heavy_nodes(report: ProviderReport | None) -> None:
    assert report is not None and report.session_providers[0] == CUDA
    heavy = [n for n, op in report.op_types.items() if any(h in op for h in HEAVY)]
    assert heavy, f"no conv/matmul node in the profile: {dict(report.op_types)}"
    off = {n: report.nodes[n] for n in heavy if report.nodes[n] != CUDA}
    assert not off, f"heavy nodes not on CUDA: {off}\n{report}"


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    clear_session_cache()


@pytest.mark.parametrize("optimization", ["disabled", "all"])
def test_ort_cuda_matches_the_reference_and_runs_conv_and_matmul_on_cuda(
    optimization: str,
) -> None:
    graph = convnet_graph()
    want = ng.compile(graph)(inputs())
    exe = ng.compile(graph, backend="ort-cuda", optimization=optimization)
    got = exe(inputs())
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL, err_msg=name)
    assert exe.report.onnx is not None and exe.report.onnx.providers == (CUDA, CPU)
    assert_cuda_ran_the_heavy_nodes(exe.report.providers)


@pytest.mark.parametrize("name", ["lenet", "resnet_small", "vit_tiny"])
def test_zoo_model_on_ort_cuda_matches_the_reference(name: str) -> None:
    model, spec = ng.zoo.MODELS[name].build()
    graph = ng.trace(model, spec, name=name)
    feeds = spec.random_inputs(seed=0)
    want = ng.compile(graph)(feeds)
    exe = ng.compile(graph, backend="ort-cuda")
    got = exe(feeds)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert_cuda_ran_the_heavy_nodes(exe.report.providers)


def test_auto_picks_cuda_where_it_works(recwarn: pytest.WarningsRecorder) -> None:
    from nanograph.backends.onnx_export import export_onnx

    runner = OrtRunner(export_onnx(convnet_graph()), providers="auto")
    assert runner.providers == (CUDA, CPU)
    out = runner.run(inputs(2))
    assert next(iter(out.values())).shape == (2, 10)
    assert_cuda_ran_the_heavy_nodes(runner.provider_report)
    assert not [w for w in recwarn if "will run on the CPU" in str(w.message)]
