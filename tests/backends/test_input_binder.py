"""``InputBinder`` returns what ``bind_inputs`` returns, and never lets a bad feed
through because an earlier good one was remembered."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nanograph.backends import feeds as feeds_module
from nanograph.backends.feeds import bind_inputs
from nanograph.backends.input_binder import InputBinder
from nanograph.ir.errors import InputConversionWarning, InputError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType


def _graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", ["N", 4]))
    y = g.add_input("y", TensorType.of("f32", ["N", 4]))
    g.outputs = [g.add("add", [x, y]).output]
    return g


def _feeds(n: int) -> dict[str, np.ndarray]:
    return {"x": np.ones((n, 4), np.float32), "y": np.zeros((n, 4), np.float32)}


def test_a_remembered_signature_skips_the_check_and_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binder = InputBinder(_graph())
    first = binder.bind(_feeds(3))
    assert first[1] == bind_inputs(_graph(), _feeds(3))[1] == {"N": 3}
    calls = []
    real = feeds_module.bind_inputs
    monkeypatch.setattr(
        "nanograph.backends.input_binder.bind_inputs",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    feeds = _feeds(3)
    arrays, dims = binder.bind(feeds)
    assert calls == [] and dims == {"N": 3}
    assert all(arrays[k] is feeds[k] for k in feeds)
    binder.bind(_feeds(5))  # a new signature is checked
    assert calls == [1]


@pytest.mark.parametrize(
    "bad",
    [
        {"x": np.ones((3, 5), np.float32), "y": np.zeros((3, 4), np.float32)},  # shape
        {"x": np.ones((3, 4), np.float32), "y": np.zeros((2, 4), np.float32)},  # N disagrees
        {"x": np.ones((3, 4), np.int32), "y": np.zeros((3, 4), np.float32)},  # dtype
        {"x": np.ones((3, 4), np.float32)},  # missing
        {**_feeds(3), "z": np.ones(1)},  # extra
    ],
)
def test_bad_feeds_are_refused_after_a_good_call(bad: dict[str, np.ndarray]) -> None:
    binder = InputBinder(_graph())
    binder.bind(_feeds(3))
    with pytest.raises(InputError):
        binder.bind(bad)


def test_conversions_are_not_remembered_so_every_call_warns() -> None:
    binder = InputBinder(_graph())
    as_f64 = {k: v.astype(np.float64) for k, v in _feeds(2).items()}
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arrays, _ = binder.bind(as_f64)
        assert [w.category for w in caught] == [InputConversionWarning]
        assert arrays["x"].dtype == np.float32


@pytest.mark.parametrize("size", [0, 2])
def test_the_memory_is_bounded(size: int) -> None:
    binder = InputBinder(_graph(), size=size)
    for n in range(1, 6):
        assert binder.bind(_feeds(n))[1] == {"N": n}
    assert len(binder._accepted) == size
