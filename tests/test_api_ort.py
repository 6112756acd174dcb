"""compile(backend="ort-cpu" | "ort-cuda"): export in memory, run in onnxruntime, report.

Graphs built here use only add/relu/matmul/transpose, so that until the ONNX
exporter (nanograph.backends.onnx_export) lands a small stand-in exporter can
run them; the zoo tests need the real one and skip without it. Tolerances
against the reference interpreter: rtol 1e-4 / atol 1e-5 (float32 on CPU;
onnxruntime's kernels sum in another order than NumPy's).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import nanograph as ng
from nanograph import F, nn
from nanograph.backends.ort import clear_session_cache, providers
from nanograph.ir.dims import SymExpr
from nanograph.ir.errors import ConfigError, InputError, ProviderUnavailableError
from nanograph.ir.graph import Graph

CPU = "CPUExecutionProvider"
RTOL, ATOL = 1e-4, 1e-5


def _real_exporter() -> Any:
    try:
        return importlib.import_module("nanograph.backends.onnx_export").export_onnx
    except (ImportError, AttributeError):  # not there yet (or a folder without its __init__)
        return None


REAL_EXPORTER = _real_exporter()
needs_exporter = pytest.mark.skipif(
    REAL_EXPORTER is None,
    reason="the ONNX exporter (nanograph.backends.onnx_export) is not there yet",
)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.fc2(F.relu(self.fc1(x)))


def mlp_graph() -> Graph:
    nn.manual_seed(0)
    return ng.trace(MLP(), ng.InputSpec("x", ("N", 6)), name="mlp")


def x_feed(n: int = 4) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)}


_ONNX_OPS = {"add": "Add", "relu": "Relu", "matmul": "MatMul", "transpose": "Transpose"}


def stand_in_export(graph: Graph, path: Any = None, *, opset: int = 23, **_: Any) -> Any:
    """A minimal export_onnx for add/relu/matmul/transpose graphs (until the real one lands)."""

    def info(v: Any) -> onnx.ValueInfoProto:
        dims = [str(d) if isinstance(d, SymExpr) else d for d in v.type.shape]
        return helper.make_tensor_value_info(v.name, onnx.TensorProto.FLOAT, dims)

    def node(n: Any) -> onnx.NodeProto:
        attrs = {"perm": list(n.attrs["perm"])} if n.op == "transpose" else {}
        ins, outs = [v.name for v in n.inputs], [v.name for v in n.outputs]
        return helper.make_node(_ONNX_OPS[n.op], ins, outs, name=outs[0], **attrs)

    nodes = [node(n) for n in graph.nodes]
    inits = [numpy_helper.from_array(np.asarray(v.const), k) for k, v in graph.constants.items()]
    body = helper.make_graph(
        nodes, graph.name, [info(v) for v in graph.inputs], [info(v) for v in graph.outputs], inits
    )
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", opset)])


@pytest.fixture(autouse=True)
def exporter(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The real exporter where it exists, else the stand-in; records each call's settings."""
    calls: list[dict[str, Any]] = []
    real = REAL_EXPORTER or stand_in_export

    def export(graph: Graph, path: Any = None, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(graph, path, **kwargs)

    if REAL_EXPORTER is not None:  # wrap it in place: its own lazy imports need the package
        module = importlib.import_module("nanograph.backends.onnx_export")
    else:
        module = ModuleType("nanograph.backends.onnx_export")
        monkeypatch.setitem(sys.modules, "nanograph.backends.onnx_export", module)
    monkeypatch.setattr(module, "export_onnx", export, raising=False)
    clear_session_cache()
    return calls


def test_ort_cpu_matches_the_reference_and_states_its_settings(
    exporter: list[dict[str, Any]],
) -> None:
    graph = mlp_graph()
    want = ng.compile(graph)(x_feed())
    exe = ng.compile(graph, level="O2", backend="ort-cpu")
    got = exe(x_feed())
    assert list(got) == exe.output_names == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL)
    assert exporter == [{"opset": 23, "attention": "auto"}]
    settings = exe.report.onnx
    assert settings is not None
    assert (settings.opset, settings.attention, settings.providers) == (23, "auto", (CPU,))
    assert (settings.threads, settings.optimization) == (None, "all")
    text = str(exe.report)
    assert "exported to ONNX opset 23 (attention=auto" in text
    assert f"on {CPU}, intra-op threads: onnxruntime's default, graph optimization: all" in text


def test_provider_report_after_the_first_run_names_cpu_for_every_node() -> None:
    exe = ng.compile(mlp_graph(), backend="ort-cpu", optimization="disabled")
    assert exe.report.providers is None
    assert "providers: known after the first run" in str(exe.report)
    exe(x_feed())
    report = exe.report.providers
    assert report is not None and len(report.nodes) == len(exe.graph.nodes)
    assert set(report.nodes.values()) == {CPU} and report.counts == {CPU: len(exe.graph.nodes)}
    assert f"providers: {CPU} ran all {len(exe.graph.nodes)} nodes of onnxruntime's" in str(
        exe.report
    )
    again = exe.profile(x_feed(2))
    assert set(again.nodes.values()) == {CPU}


def test_options_reach_the_exporter_and_the_session(exporter: list[dict[str, Any]]) -> None:
    exe = ng.compile(mlp_graph(), backend="ort-cpu", opset=21, threads=1, optimization="basic")
    assert exporter == [{"opset": 21, "attention": "auto"}]
    options = exe.runner.session.get_session_options()  # type: ignore[attr-defined]
    assert options.intra_op_num_threads == 1
    assert str(options.graph_optimization_level).endswith("ORT_ENABLE_BASIC")
    assert exe.report.onnx is not None and exe.report.onnx.threads == 1
    assert "intra-op threads: 1, graph optimization: basic" in str(exe.report)


def test_session_is_reused_when_the_same_graph_is_compiled_again() -> None:
    graph = mlp_graph()
    first = ng.compile(graph, level="O1", backend="ort-cpu")
    second = ng.compile(graph.copy(), level="O1", backend="ort-cpu")  # an equal graph
    assert first.runner.session is second.runner.session  # type: ignore[attr-defined]
    first(x_feed())
    assert second.report.providers is first.report.providers  # profiled once, shared


def test_bad_inputs_give_the_numpy_backends_input_error() -> None:
    graph = mlp_graph()
    ref, ort = ng.compile(graph), ng.compile(graph, backend="ort-cpu")
    bad_feeds: list[dict[str, Any]] = [
        {},
        {"x": np.ones((2, 5), np.float32)},
        {"x": np.ones((2, 6), np.int64)},
        {"x": np.ones(6, np.float32)},
        {"x": np.ones((2, 6), np.float32), "y": 1},
    ]
    for bad in bad_feeds:
        with pytest.raises(InputError) as want:
            ref(bad)
        with pytest.raises(InputError) as got:
            ort(bad)
        assert str(got.value) == str(want.value)
    with pytest.raises(InputError, match=r"pass inputs by name"):
        ort(np.ones((2, 6), np.float32))  # type: ignore[arg-type]


def test_ort_options_with_a_numpy_backend_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"threads: option\(s\) of the onnxruntime backends"):
        ng.compile(mlp_graph(), backend="numpy", threads=2)
    with pytest.raises(ConfigError, match=r"has no execution providers"):
        ng.compile(mlp_graph()).profile(x_feed())


def test_bad_ort_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"threads must be at least 1"):
        ng.compile(mlp_graph(), backend="ort-cpu", threads=0)
    with pytest.raises(ConfigError, match=r"unknown onnxruntime optimization level 'fast'"):
        ng.compile(mlp_graph(), backend="ort-cpu", optimization="fast")


def test_ort_cuda_without_cuda_fails_before_exporting(
    monkeypatch: pytest.MonkeyPatch, exporter: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(providers, "available_providers", lambda: [CPU])
    with pytest.raises(ProviderUnavailableError, match=r"CUDAExecutionProvider is not available"):
        ng.compile(mlp_graph(), backend="ort-cuda")
    assert exporter == []


def test_a_missing_exporter_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanograph.backends.onnx_export", None)  # import fails
    with pytest.raises(ConfigError, match=r"need the ONNX exporter"):
        ng.compile(mlp_graph(), backend="ort-cpu")


@needs_exporter
@pytest.mark.parametrize("name", sorted(ng.zoo.MODELS))
def test_zoo_model_on_ort_cpu_matches_the_reference(name: str) -> None:
    model, spec = ng.zoo.MODELS[name].build()
    graph = ng.trace(model, spec, name=name)
    inputs = spec.random_inputs(seed=0)
    want = ng.compile(graph)(inputs)
    exe = ng.compile(graph, level="O2", backend="ort-cpu")
    got = exe(inputs)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=ATOL, err_msg=key)
    report = exe.report.providers
    assert report is not None and set(report.nodes.values()) == {CPU}
