"""Bad input catalogue, feeds: arrays given to a compiled model that do not fit its inputs.

Refused: missing or extra inputs, wrong rank, wrong static dim, a symbol bound
twice, a float fed to an int input, values that do not fit. Accepted with one
``InputConversionWarning``: float64 and non-contiguous arrays (a ``same_kind``
cast). NaN/Inf propagate exactly as the NumPy reference does, on every backend.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend import functional as F
from nanograph.frontend.spec import InputSpec
from nanograph.ir.errors import InputConversionWarning, InputError
from tests.reliability.clear_error import assert_clear

BACKENDS = ["numpy-ref", "numpy", "ort-cpu"]
W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 6) / 7


def model(x: Any, ids: Any) -> Any:
    return F.relu(x @ W).sum(dim=1) + ids.to("f32")


def compiled(backend: str = "numpy-ref") -> Any:
    specs = [InputSpec("x", ("N", 4), "f32"), InputSpec("ids", ("N",), "i64", value_range=(0, 9))]
    return ng.compile(ng.trace(model, *specs), "O1", backend=backend)


def x_of(n: int = 2) -> np.ndarray:
    return np.linspace(-1, 1, n * 4, dtype=np.float32).reshape(n, 4)


IDS = np.arange(2, dtype=np.int64)

REFUSED = {
    "missing-input": ({"x": x_of()}, "missing ids"),
    "extra-input": ({"x": x_of(), "ids": IDS, "idz": IDS}, "unexpected idz"),
    "misspelt-input": ({"xx": x_of(), "ids": IDS}, "did you mean x?"),
    "wrong-rank": ({"x": x_of().ravel(), "ids": IDS}, "rank 1, expected rank 2"),
    "wrong-static-dim": ({"x": np.zeros((2, 5), np.float32), "ids": IDS}, "axis 1 is 5"),
    "symbol-bound-twice": ({"x": x_of(3), "ids": IDS}, "but N=3 (from x axis 0)"),
    "float-into-int-input": ({"x": x_of(), "ids": IDS.astype(np.float32)}, "expected i64 values"),
    "int-into-float-input": ({"x": x_of().astype(np.int32), "ids": IDS}, "expected f32 values"),
    "string-array": ({"x": x_of(), "ids": np.array(["a", "b"])}, "expected i64 values"),
    "object-not-an-array": ({"x": x_of(), "ids": [object(), 1]}, "ids"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_feeds_are_refused_naming_the_input(case: str) -> None:
    feeds, what = REFUSED[case]
    with pytest.raises(InputError) as info:
        compiled()(feeds)
    assert_clear(info.value, InputError, what, "model")  # the graph's name and signature


def test_uint64_too_large_for_i64_is_refused() -> None:
    ids = np.array([1, 2**63 + 5], np.uint64)
    with pytest.raises(InputError) as info:
        compiled()(x=x_of(), ids=ids)
    assert_clear(info.value, InputError, "ids", "model")


@pytest.mark.parametrize(
    "case",
    ["float64", "non-contiguous", "float64-and-non-contiguous"],
)
def test_same_kind_conversions_are_accepted_with_one_warning(case: str) -> None:
    exe = compiled()
    x = x_of(3)
    expected = exe(x=x, ids=IDS[:1].repeat(3))
    wide = np.asfortranarray(x) if "non-contiguous" in case else x
    if "float64" in case:
        wide = wide.astype(np.float64, order="K")
    ids = np.arange(6, dtype=np.int64)[::2] * 0 + IDS[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = exe(x=wide, ids=ids)
    conversions = [w for w in caught if issubclass(w.category, InputConversionWarning)]
    assert len(conversions) == 1, [str(w.message) for w in caught]
    assert "x:" in str(conversions[0].message)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy's own
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_and_inf_propagate_as_the_reference_does(backend: str) -> None:
    x = x_of(4)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    feeds = {"x": x, "ids": np.arange(4, dtype=np.int64)}
    want = compiled("numpy-ref")(feeds)
    got = compiled(backend)(feeds)
    for name in want:
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(want[name]))
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, equal_nan=True)
    assert any(np.isnan(v).any() or np.isinf(v).any() for v in want.values())


@pytest.mark.parametrize("backend", ["numpy", "ort-cpu"])
def test_one_model_called_from_threads_gives_the_sequential_results(backend: str) -> None:
    exe = compiled(backend)
    rng = np.random.default_rng(0)
    feeds = [
        {"x": rng.standard_normal((n, 4)).astype(np.float32), "ids": np.arange(n, dtype=np.int64)}
        for n in (1, 2, 3, 5, 2, 3, 1, 5) * 4
    ]
    sequential = [{k: v.copy() for k, v in exe(f).items()} for f in feeds]  # owned snapshots
    results: list[Any] = [None] * len(feeds)
    start = threading.Barrier(8)

    def work(k: int) -> None:
        start.wait()
        for i in range(k, len(feeds), 8):
            results[i] = exe(feeds[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for want, got in zip(sequential, results, strict=True):  # results kept uncopied: no aliasing
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
