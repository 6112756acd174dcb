"""Bad input catalogue, feeds (more): what the reviewer found the feed checks let through.

- Finite float64 values beyond float32's range (and float32 beyond float16's)
  would become inf in the input cast: refused with ``InputError`` naming the
  input and the largest |value|, with no NumPy warning escaping. In-range
  casts still give exactly one ``InputConversionWarning``; inf and NaN given
  as such still pass.
- Masked arrays (``numpy.ma``) are refused with the ``.filled`` fix; other
  ndarray subclasses (``np.matrix``) run as plain arrays.
- onnxruntime runs the same checks of the bound sizes as the NumPy backends
  (a sequence longer than a position table, a zero batch): same ``InputError``.
- Mistakes in calling ``exe`` or ``compile`` carry a fix hint.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend import functional as F
from nanograph.frontend.spec import InputSpec
from nanograph.ir.errors import ConfigError, InputConversionWarning, InputError
from nanograph.model_loading import load_model
from tests.reliability.clear_error import assert_clear

BACKENDS = ["numpy-ref", "numpy", "ort-cpu"]
W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 6) / 7


def model(x: Any) -> Any:
    return F.relu(x @ W)


def half_model(x: Any) -> Any:
    return F.relu(x)


def compiled(backend: str, dtype: str = "f32") -> Any:
    fn = model if dtype == "f32" else half_model
    return ng.compile(ng.trace(fn, InputSpec("x", ("N", 4), dtype)), "O1", backend=backend)


def x_of(n: int = 2) -> np.ndarray:
    return np.linspace(-1, 1, n * 4, dtype=np.float32).reshape(n, 4)


def call_recording(exe: Any, **feeds: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    """(the result or the error raised, every warning given meanwhile)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = exe(**feeds)
        except ng.NanographError as err:
            result = err
    return result, caught


# float range -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_values_beyond_float32_are_refused_without_numpy_warnings(backend: str) -> None:
    x = x_of().astype(np.float64)
    x[1, 2] = -1e300
    x[0, 0] = 5e38
    error, caught = call_recording(compiled(backend), x=x)
    assert_clear(error, InputError, "largest |value| 1e+300", "x: 2 finite float64 value(s)")
    assert "do not fit in f32" in error.message and "3.40282e+38" in error.hint
    assert "np.clip(x" in error.hint
    assert caught == [], [str(w.message) for w in caught]  # no 'overflow encountered in cast'


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_values_beyond_float16_are_refused(backend: str) -> None:
    x = np.full((1, 4), 1e5, np.float32)
    error, caught = call_recording(compiled(backend, "f16"), x=x)
    assert_clear(error, InputError, "largest |value| 100000", "x: 4 finite float32 value(s)")
    assert "f16 holds up to 65504" in error.message
    assert caught == []


def test_a_python_list_beyond_float32_is_refused() -> None:
    error, caught = call_recording(compiled("numpy-ref"), x=[[1e39, 0.0, 0.0, 0.0]])
    assert_clear(error, InputError, "largest |value| 1e+39", "x: 1 finite float64 value(s)")
    assert caught == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_in_range_cast_gives_one_warning_and_the_float32_result(backend: str) -> None:
    exe = compiled(backend)
    x = x_of() * 1e30  # large, but within float32
    result, caught = call_recording(exe, x=x.astype(np.float64))
    assert [w.category for w in caught] == [InputConversionWarning]
    assert "x: float64 -> f32" in str(caught[0].message)
    expected = ng.compile(ng.trace(model, InputSpec("x", ("N", 4))), "O0")(x=x)["relu"]
    np.testing.assert_allclose(result["relu"], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inf_and_nan_given_as_such_still_pass_the_cast(backend: str) -> None:
    x = x_of()
    x[0, :] = [np.inf, -np.inf, np.nan, 0.0]
    exe = compiled(backend)
    result, caught = call_recording(exe, x=x.astype(np.float64))
    assert [w.category for w in caught] == [InputConversionWarning]
    expected = exe(x=x)["relu"]  # the same values fed as float32, on the same backend
    np.testing.assert_array_equal(result["relu"], expected)  # NaN where NaN


# masked arrays and other subclasses --------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_masked_array_is_refused_with_the_filled_fix(backend: str) -> None:
    x = np.ma.masked_array(x_of(), mask=np.eye(2, 4, dtype=bool))
    error, _ = call_recording(compiled(backend), x=x)
    assert_clear(error, InputError, "got a masked array (numpy.ma)", "x: ")
    assert "x.filled(value)" in error.hint


@pytest.mark.parametrize("backend", ["numpy-ref", "numpy"])
def test_a_matrix_runs_as_the_plain_array_it_holds(backend: str) -> None:
    exe = compiled(backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix's own
        matrix = np.matrix(x_of())
    result = exe(x=matrix)["relu"]
    assert type(result) is np.ndarray  # not a matrix: the kernels saw a plain array
    np.testing.assert_array_equal(result, exe(x=x_of())["relu"])


# onnxruntime checks bound sizes as the NumPy backends do ---------------------------------------
@pytest.fixture(scope="module")
def pos_tagger() -> Any:
    return load_model("pos_tagger").trace()


def test_a_sequence_longer_than_the_position_table_is_refused_on_every_backend(
    pos_tagger: Any,
) -> None:
    tokens = np.zeros((1, 600), np.int64)  # the position table has 512 rows
    messages = set()
    for backend in BACKENDS:
        with pytest.raises(ng.NanographError) as info:
            ng.compile(pos_tagger, "O2", backend)(tokens=tokens)
        error = assert_clear(info.value, InputError, "S=600", "pos_tagger.py:")
        assert "outside what the model supports" in error.hint
        messages.add(str(error))
    assert len(messages) == 1, messages  # the same error, word for word


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_zero_batch_is_refused_on_every_backend(backend: str) -> None:
    with pytest.raises(ng.NanographError) as info:
        compiled(backend)(x=np.ones((0, 4), np.float32))
    assert_clear(info.value, InputError, "must be positive, got 0", "graph model")


def test_ort_remembers_a_binding_that_passed() -> None:
    exe = compiled("ort-cpu")
    exe(x=x_of(3))
    exe(x=x_of(3))
    assert list(exe.runner._bindings_ok) == [(3,)]


# calling mistakes carry a hint -----------------------------------------------------------------
def test_an_input_given_twice_says_how_to_fix_it() -> None:
    with pytest.raises(ng.NanographError) as info:
        compiled("numpy-ref")({"x": x_of()}, x=x_of())
    assert_clear(info.value, InputError, "given both in the dict and by keyword", "x")


def test_threads_as_a_string_says_how_to_fix_it() -> None:
    graph = ng.trace(model, InputSpec("x", ("N", 4)))
    with pytest.raises(ng.NanographError) as info:
        ng.compile(graph, "O1", "ort-cpu", threads="2")  # type: ignore[arg-type]
    error = assert_clear(info.value, ConfigError, "threads must be a positive int", "'2'")
    assert "threads=2" in error.hint
