"""Bad input catalogue, non-finite values: NaN and Inf propagate as the reference says, quietly.

The reference interpreter and the planned executor run nodes under
``np.errstate(all="ignore")``: IEEE arithmetic, as onnxruntime and PyTorch
compute, with no NumPy ``RuntimeWarning`` ("invalid value encountered ...").
Here warnings are errors, so one warning fails the test (without the errstate,
the reference's conv2d raises on lenet). NaN and Inf must sit exactly where the
reference (``numpy-ref`` at O0) puts them, and batch elements without
non-finite inputs must stay finite and agree with it.

onnxruntime is checked for no warnings and on the finite batch element only:
its MaxPool ignores NaN by design (see ``tests/fuzz/oracle.py``), so lenet's
NaN disappears there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nanograph as ng
from nanograph.model_loading import load_model, zoo_models

# The executors run f32 kernels that reorder sums the reference accumulates in
# float64 (convs and matmuls over hundreds of terms): f32 rounding, as in tests/fuzz.
RTOL = ATOL = 1e-4
RUNS = [("numpy-ref", "O3"), ("numpy", "O0"), ("numpy", "O3")]
FLOAT_MODELS = sorted(
    name
    for name in zoo_models()
    if any(spec.dtype.is_float for spec in load_model(name).spec)  # pos_tagger takes ids only
)


def nonfinite_feeds(name: str) -> dict[str, np.ndarray]:
    """Batch 2: element 0 of each float input has a NaN and an Inf, element 1 is finite."""
    feeds = load_model(name).random_inputs(0, {"N": 2})
    for array in feeds.values():
        if np.issubdtype(array.dtype, np.floating):
            first = array[0].reshape(-1)  # a view of element 0
            first[3] = np.nan
            first[-5] = np.inf
    return feeds


def run_strict(graph: ng.Graph, level: str, backend: str, feeds: dict) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the run
        return ng.compile(graph, level, backend)(feeds)


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_nan_and_inf_inputs_propagate_like_the_reference_without_warnings(name: str) -> None:
    graph = load_model(name).trace()
    feeds = nonfinite_feeds(name)
    want = run_strict(graph, "O0", "numpy-ref", feeds)
    for key, array in want.items():
        assert not np.isfinite(array[0]).all(), f"{name}: {key} ignores its NaN/Inf input"
        assert np.isfinite(array[1]).all(), f"{name}: {key} leaks NaN/Inf across the batch"
    for backend, level in RUNS:
        got = run_strict(graph, level, backend, feeds)
        for key, array in want.items():
            where = f"{name} {backend} {level} {key}"
            np.testing.assert_array_equal(np.isnan(got[key]), np.isnan(array), err_msg=where)
            np.testing.assert_array_equal(got[key] == np.inf, array == np.inf, err_msg=where)
            np.testing.assert_array_equal(got[key] == -np.inf, array == -np.inf, err_msg=where)
            finite = np.isfinite(array)
            np.testing.assert_allclose(
                got[key][finite], array[finite], rtol=RTOL, atol=ATOL, err_msg=where
            )


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_onnxruntime_takes_nan_and_inf_quietly(name: str) -> None:
    graph = load_model(name).trace()
    feeds = nonfinite_feeds(name)
    want = run_strict(graph, "O0", "numpy-ref", feeds)
    got = run_strict(graph, "O2", "ort-cpu", feeds)
    for key, array in want.items():
        np.testing.assert_allclose(got[key][1], array[1], rtol=RTOL, atol=ATOL, err_msg=key)


ELEMENTWISE = """graph ieee(%x: f32[6]) -> (f32[6], f32[6], f32[6], f32[6]) {
  %l = log(%x) : f32[6]  # ieee.py:1
  %s = sqrt(%x) : f32[6]  # ieee.py:2
  %q = div(%x, %x) : f32[6]  # ieee.py:3
  %e = exp(%x) : f32[6]  # ieee.py:4
  return %l, %s, %q, %e
}"""


@pytest.mark.parametrize(("backend", "level"), [("numpy-ref", "O0"), *RUNS, ("ort-cpu", "O2")])
def test_ieee_special_values_of_elementwise_ops(backend: str, level: str) -> None:
    """log(-1), sqrt(-1), 0/0, inf/inf are NaN; log(0) is -inf; exp(1000) overflows to inf."""
    graph = ng.parse_graph(ELEMENTWISE, {})
    x = np.array([np.nan, np.inf, -1.0, 0.0, 1.0, 1000.0], np.float32)
    got = run_strict(graph, level, backend, {"x": x})
    nan, inf = np.nan, np.inf
    expected = {
        "l": [nan, inf, nan, -inf, 0.0, np.log(np.float32(1000.0))],
        "s": [nan, inf, nan, 0.0, 1.0, np.sqrt(np.float32(1000.0))],
        "q": [nan, nan, 1.0, nan, 1.0, 1.0],
        "e": [nan, inf, np.exp(np.float32(-1.0)), 1.0, np.exp(np.float32(1.0)), inf],
    }
    for key, values in expected.items():
        np.testing.assert_allclose(got[key], np.array(values, np.float32), rtol=1e-6, err_msg=key)
