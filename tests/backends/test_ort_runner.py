"""OrtRunner on ONNX models built with onnx.helper: sessions, settings, inputs, provider report."""

from __future__ import annotations

import gc
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nanograph.backends.feeds import InputConversionWarning
from nanograph.backends.ort import OrtRunner, clear_session_cache, providers, sessions
from nanograph.backends.ort.profiling import report_from_events
from nanograph.ir.errors import (
    ConfigError,
    InputError,
    ModelLoadError,
    OnnxRuntimeError,
    ProviderFallbackWarning,
    ProviderUnavailableError,
)

CPU = "CPUExecutionProvider"
HAS_CUDA = providers.CUDA in providers.available_providers()
RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
B = RNG.standard_normal((4,)).astype(np.float32)


def conv_model(name: str = "conv_relu") -> onnx.ModelProto:
    """x: f32[N,3,8,8] -> relu(conv(x, W, B)) : f32[N,4,8,8], plus mask: bool[N] passed through."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    mask = helper.make_tensor_value_info("mask", TensorProto.BOOL, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    kept = helper.make_tensor_value_info("kept", TensorProto.BOOL, ["N"])
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
        helper.make_node("Identity", ["mask"], ["kept"], name="keep"),
    ]
    inits = [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")]
    graph = helper.make_graph(nodes, name, [x, mask], [y, kept], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    onnx.checker.check_model(model, full_check=True)
    return model


def expected(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    out = np.einsum("nchwij,ocij->nohw", windows, W) + B.reshape(1, 4, 1, 1)
    assert out.shape == (n, 4, 8, 8)
    return np.maximum(out, 0)


def feeds(n: int = 2) -> dict[str, np.ndarray]:
    x = np.random.default_rng(n).standard_normal((n, 3, 8, 8)).astype(np.float32)
    return {"x": x, "mask": np.arange(n) % 2 == 0}


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    clear_session_cache()


def test_runs_a_model_proto_and_a_file_with_outputs_by_name(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(conv_model(), path)
    f = feeds(3)
    for source in (conv_model(), conv_model().SerializeToString(), path, str(path)):
        out = OrtRunner(source, providers="cpu").run(f)
        assert list(out) == ["y", "kept"]
        np.testing.assert_allclose(out["y"], expected(f["x"]), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(out["kept"], f["mask"])


def test_session_is_cached_per_model_and_settings() -> None:
    a = OrtRunner(conv_model(), providers="cpu")
    b = OrtRunner(conv_model().SerializeToString(), providers="cpu")
    assert a.session is b.session  # same bytes, same settings: one session
    assert OrtRunner(conv_model(), providers="cpu", threads=1).session is not a.session
    assert OrtRunner(conv_model(), providers="cpu", optimization="basic").session is not a.session
    assert OrtRunner(conv_model("other"), providers="cpu").session is not a.session


def test_session_options_follow_the_settings() -> None:
    opts = OrtRunner(conv_model(), providers="cpu", threads=2, optimization="basic").session
    options = opts.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert str(options.graph_optimization_level).endswith("ORT_ENABLE_BASIC")
    default = OrtRunner(conv_model(), providers="cpu").session.get_session_options()
    assert default.intra_op_num_threads == 0  # onnxruntime's own default
    assert str(default.graph_optimization_level).endswith("ORT_ENABLE_ALL")
    spinning = OrtRunner(conv_model(), providers="cpu", spinning=True).session
    assert spinning.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning"
    ) == ("1")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threads": 0}, "threads must be at least 1"),
        ({"threads": 1.5}, "threads must be a positive int"),
        ({"optimization": "max"}, "unknown onnxruntime optimization level 'max'"),
        ({"providers": "tpu"}, "unknown providers 'tpu'"),
    ],
)
def test_bad_settings_are_config_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OrtRunner(conv_model(), **settings)  # type: ignore[arg-type]


def test_provider_report_comes_from_the_first_run_only() -> None:
    runner = OrtRunner(conv_model(), providers="cpu", optimization="disabled")
    assert runner.provider_report is None
    runner.run(feeds())
    report = runner.provider_report
    assert report is not None
    assert dict(report.nodes) == {"conv": CPU, "relu": CPU, "keep": CPU}
    assert dict(report.op_types) == {"conv": "Conv", "relu": "Relu", "keep": "Identity"}
    assert (
        report.counts == {CPU: 3}
        and report.summary() == f"{CPU} ran all 3 nodes of onnxruntime's graph"
    )
    runner.run(feeds())
    assert runner.provider_report is report  # later runs are not profiled


def test_every_node_runs_on_cpu_after_onnxruntime_optimizations() -> None:
    runner = OrtRunner(conv_model(), providers="cpu")  # level all: Conv+Relu fused/renamed
    runner.run(feeds())
    report = runner.provider_report
    assert report is not None and report.nodes
    assert set(report.nodes.values()) == {CPU}
    assert report.session_providers == (CPU,)


def test_explicit_profile_uses_a_fresh_session() -> None:
    runner = OrtRunner(conv_model(), providers="cpu", optimization="disabled")
    report = runner.profile(feeds(1))
    assert sorted(report.nodes_on(CPU)) == ["conv", "keep", "relu"]
    assert runner.provider_report is report
    assert runner.session.get_session_options().enable_profiling  # the cached one is untouched


def test_no_profile_files_are_left_behind() -> None:
    before = set(Path(tempfile.gettempdir()).glob("nanograph-ort-profile-*"))
    runner = OrtRunner(conv_model(), providers="cpu")
    runner.run(feeds())
    runner.profile(feeds())
    unused = OrtRunner(conv_model("never_run"), providers="cpu")  # profiled session, never run
    del runner, unused
    clear_session_cache()
    gc.collect()
    assert not set(Path(tempfile.gettempdir()).glob("nanograph-ort-profile-*")) - before


def test_report_parsing_skips_non_kernel_events() -> None:
    events = [
        {"cat": "Session", "name": "model_run", "args": {}},
        {"cat": "Node", "name": "mm_fence_before", "args": {"op_name": "MatMul"}},
        {"cat": "Node", "name": "mm_kernel_time", "args": {"op_name": "MatMul", "provider": "A"}},
        {"cat": "Node", "name": "s_kernel_time", "args": {"op_name": "Shape", "provider": CPU}},
        {"cat": "Node", "name": "mm_kernel_time", "args": {"op_name": "MatMul", "provider": "A"}},
    ]
    report = report_from_events(events, ("A", CPU))
    assert dict(report.nodes) == {"mm": "A", "s": CPU}
    assert report.summary() == f"A ran 1 of 2 nodes of onnxruntime's graph; {CPU} ran 1 (Shape x1)"
    assert "  mm (MatMul): A" in str(report)


def test_bad_inputs_are_input_errors_before_onnxruntime() -> None:
    runner = OrtRunner(conv_model(), providers="cpu")
    f = feeds(2)
    with pytest.raises(InputError, match=r"missing mask"):
        runner.run({"x": f["x"]})
    with pytest.raises(InputError, match=r"unexpected xx \(did you mean x\?\)"):
        runner.run({**f, "xx": f["x"]})
    with pytest.raises(InputError, match=r"axis 0 is 3, but N=2 \(from x axis 0\)"):
        runner.run({"x": f["x"], "mask": np.ones(3, bool)})
    with pytest.raises(InputError, match=r"x: expected f32 values, got a int64 array"):
        runner.run({"x": f["x"].astype(np.int64), "mask": f["mask"]})
    with pytest.raises(InputError, match=r"conv_relu\(x: f32\[N,3,8,8\], mask: bool\[N\]\)"):
        runner.run({"x": f["x"][:, :2], "mask": f["mask"]})


def test_same_kind_inputs_are_converted_with_a_warning() -> None:
    runner = OrtRunner(conv_model(), providers="cpu")
    f = feeds(2)
    with pytest.warns(InputConversionWarning, match=r"x: float64 -> f32"):
        out = runner.run({"x": f["x"].astype(np.float64), "mask": f["mask"]})
    np.testing.assert_allclose(out["y"], expected(f["x"]), rtol=1e-4, atol=1e-5)


def test_unnamed_dims_take_any_size() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, "weird name", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    runner = OrtRunner(model, providers="cpu")
    out = runner.run({"x": -np.ones((5, 7, 2), np.float32)})
    assert out["y"].shape == (5, 7, 2) and not out["y"].any()
    with pytest.raises(InputError, match=r"axis 2 is 3, expected 2"):
        runner.run({"x": np.ones((5, 7, 3), np.float32)})


def test_an_input_type_nanograph_does_not_feed_is_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    with pytest.raises(ModelLoadError, match=r"input x is tensor\(double\)"):
        OrtRunner(model, providers="cpu")


def test_a_missing_file_and_a_broken_model_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"cannot read ONNX model .*nope.onnx"):
        OrtRunner(tmp_path / "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(OnnxRuntimeError, match=r"onnxruntime cannot load model bad.onnx"):
        OrtRunner(tmp_path / "bad.onnx", providers="cpu")


def test_a_failure_inside_onnxruntime_is_an_onnxruntime_error() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    graph = helper.make_graph([node], "g", [x, shape], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    runner = OrtRunner(model, providers="cpu")
    bad = {"x": np.ones(4, np.float32), "shape": np.array([3])}
    with pytest.raises(OnnxRuntimeError, match=r"onnxruntime failed running model g"):
        runner.run(bad)
    assert runner.provider_report is None  # a failed run is not the profiled one
    runner.run({"x": np.ones(4, np.float32), "shape": np.array([4])})
    assert runner.provider_report is not None


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process where onnxruntime offers no CUDA and has not warned about it yet."""
    monkeypatch.setattr(providers, "available_providers", lambda: [CPU])
    monkeypatch.setattr(providers, "_warned_fallback", False)


@pytest.mark.usefixtures("no_cuda")
def test_auto_without_cuda_warns_once_and_runs_on_cpu() -> None:
    with pytest.warns(ProviderFallbackWarning, match=r"will run on the CPU.*onnxruntime-gpu"):
        runner = OrtRunner(conv_model(), providers="auto")
    assert runner.providers == (CPU,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise
        OrtRunner(conv_model("another"), providers="auto")


@pytest.mark.usefixtures("no_cuda")
def test_explicit_cuda_without_it_is_a_clear_error() -> None:
    with pytest.raises(ProviderUnavailableError) as info:
        OrtRunner(conv_model(), providers="cuda")
    text = str(info.value)
    assert "CUDAExecutionProvider is not available" in text
    assert "install onnxruntime-gpu" in text and "ort-cpu" in text


@pytest.mark.skipif(
    HAS_CUDA, reason="this onnxruntime can load CUDA; the test needs one that cannot"
)
def test_cuda_listed_but_not_loadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime drops a provider it lists but cannot load; we notice from the session."""
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, CPU])
    monkeypatch.setattr(providers, "_warned_fallback", False)
    with pytest.raises(
        ProviderUnavailableError, match=r"lists CUDAExecutionProvider but could not"
    ):
        OrtRunner(conv_model(), providers="cuda")
    with pytest.warns(ProviderFallbackWarning, match=r"could not load it"):
        runner = OrtRunner(conv_model(), providers="auto")
    assert runner.providers == (CPU,)
    with pytest.raises(ProviderUnavailableError):  # the session cached under "auto" is no excuse
        OrtRunner(conv_model(), providers="cuda")


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "cache_size", 2)
    first = OrtRunner(conv_model("m0"), providers="cpu").session
    for i in (1, 2):
        OrtRunner(conv_model(f"m{i}"), providers="cpu")
    assert OrtRunner(conv_model("m0"), providers="cpu").session is not first
