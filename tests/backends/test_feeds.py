"""bind_inputs: names, dtypes, shapes and symbol binding of the arrays fed to a graph."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nanograph.backends.feeds import (
    DimBinder,
    InputConversionWarning,
    bind_inputs,
    solve_linear,
)
from nanograph.ir.dims import parse_dim
from nanograph.ir.errors import InputError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType


def graph_of(**inputs: tuple[str, tuple[object, ...]]) -> Graph:
    """A graph with the given inputs (name=(dtype, shape)) and one relu per float input."""
    g = Graph("g")
    for name, (dtype, shape) in inputs.items():
        v = g.add_input(name, TensorType.of(dtype, shape))
        g.outputs.append(v)
    return g


def f32(*shape: int) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def test_exact_arrays_pass_through_unchanged_and_bind_symbols() -> None:
    g = graph_of(x=("f32", ("N", 3)), ids=("i64", ("N", "S")))
    x, ids = f32(2, 3), np.zeros((2, 7), np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrays, dims = bind_inputs(g, {"x": x, "ids": ids})
    assert arrays["x"] is x and arrays["ids"] is ids
    assert dims == {"N": 2, "S": 7}


def test_missing_and_extra_inputs_are_reported_together() -> None:
    g = graph_of(x=("f32", ("N", 3)), mask=("bool", ("N", 4)))
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"x": f32(2, 3), "maks": np.ones((2, 4), bool), "z": 1})
    text = str(info.value)
    assert "missing mask" in text
    assert "unexpected maks (did you mean mask?)" in text
    assert "unexpected z" in text
    assert "x: f32[N,3], mask: bool[N,4]" in text  # what the graph takes


def test_wrong_rank_names_input_expected_type_and_shape() -> None:
    g = graph_of(x=("f32", ("N", 3, 32, 32)))
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"x": f32(3, 32, 32)})
    text = str(info.value)
    assert "x: expected f32[N,3,32,32], got shape [3,32,32]" in text
    assert "rank 3, expected rank 4" in text


def test_wrong_static_dim_names_the_axis() -> None:
    g = graph_of(x=("f32", ("N", 3, 32, 32)))
    with pytest.raises(InputError, match=r"axis 2 is 28, expected 32"):
        bind_inputs(g, {"x": f32(1, 3, 28, 32)})


def test_symbol_bound_inconsistently_names_both_sources() -> None:
    g = graph_of(x=("f32", ("N", 3)), y=("f32", ("N", 3)))
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"x": f32(2, 3), "y": f32(3, 3)})
    text = str(info.value)
    assert "y: expected f32[N,3], got shape [3,3]" in text
    assert "axis 0 is 3, but N=2 (from x axis 0)" in text


def test_compound_dims_are_checked_after_binding() -> None:
    g = graph_of(pos=("f32", ("S+1", 8)), x=("f32", ("N", "S", 8)))
    _, dims = bind_inputs(g, {"pos": f32(6, 8), "x": f32(2, 5, 8)})
    assert dims == {"N": 2, "S": 5}
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"pos": f32(5, 8), "x": f32(2, 5, 8)})
    assert "axis 0 is 5, but S+1 = 6 with S=5 (from x axis 1)" in str(info.value)


def test_a_compound_dim_alone_solves_for_its_symbol() -> None:
    g = graph_of(x=("f32", ("2*S+1",)))
    assert bind_inputs(g, {"x": f32(9)})[1] == {"S": 4}
    with pytest.raises(InputError, match=r"does not determine S"):
        bind_inputs(g, {"x": f32(8)})


def test_float64_is_cast_with_one_warning_naming_every_converted_input() -> None:
    g = graph_of(x=("f32", ("N", 3)), y=("f32", ("N", 3)))
    x64, y64 = f32(2, 3).astype(np.float64), f32(2, 3).astype(np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays, _ = bind_inputs(g, {"x": x64, "y": y64})
    assert len(caught) == 1
    assert caught[0].category is InputConversionWarning
    assert "x: float64 -> f32" in str(caught[0].message)
    assert "y: float64 -> f32" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller, not at nanograph
    assert arrays["x"].dtype == np.float32
    np.testing.assert_array_equal(arrays["x"], x64)


def test_non_contiguous_arrays_are_copied_with_a_warning() -> None:
    g = graph_of(x=("f32", (3, 2)))
    view = f32(2, 3).T
    with pytest.warns(InputConversionWarning, match="contiguous"):
        arrays, _ = bind_inputs(g, {"x": view})
    assert arrays["x"].flags.c_contiguous
    np.testing.assert_array_equal(arrays["x"], view)


def test_int_input_for_float_is_refused() -> None:
    g = graph_of(x=("f32", ("N", 3)))
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"x": np.ones((2, 3), np.int64)})
    assert "x: expected f32 values, got a int64 array" in str(info.value)


def test_float_input_for_int_is_refused() -> None:
    g = graph_of(ids=("i64", ("N",)))
    with pytest.raises(InputError, match=r"ids: expected i64 values, got a float32 array"):
        bind_inputs(g, {"ids": f32(4)})


def test_narrowing_int_cast_must_keep_the_values() -> None:
    g = graph_of(ids=("i32", (2,)))
    with pytest.warns(InputConversionWarning):
        arrays, _ = bind_inputs(g, {"ids": np.array([1, 2], np.int64)})
    assert arrays["ids"].dtype == np.int32
    with pytest.raises(InputError, match=r"do not fit in i32"):
        bind_inputs(g, {"ids": np.array([1, 2**40], np.int64)})


def test_python_lists_and_scalars_are_converted_silently() -> None:
    g = graph_of(x=("f32", (2,)), s=("f32", ()), ids=("i32", (3,)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrays, _ = bind_inputs(g, {"x": [1.5, 2.0], "s": 3.0, "ids": [1, 2, 3]})
    assert arrays["x"].dtype == np.float32 and arrays["s"].shape == ()
    assert arrays["ids"].dtype == np.int32


def test_every_dtype_and_shape_problem_is_reported_at_once() -> None:
    g = graph_of(x=("f32", ("N", 3)), ids=("i64", ("N",)), y=("f32", (4,)))
    with pytest.raises(InputError) as info:
        bind_inputs(g, {"x": f32(2, 3), "ids": f32(2), "y": f32(5)})
    text = str(info.value)
    assert "ids: expected i64 values" in text
    assert "y: expected f32[4], got shape [5]" in text


def test_strings_are_refused() -> None:
    g = graph_of(x=("f32", (1,)))
    with pytest.raises(InputError, match=r"x: expected f32 values"):
        bind_inputs(g, {"x": ["a"]})


def test_solve_linear() -> None:
    assert solve_linear(parse_dim("S+1"), 5) == ("S", 4)
    assert solve_linear(parse_dim("3*S-2"), 7) == ("S", 3)
    assert solve_linear(parse_dim("3*S"), 7) is None  # not an int
    assert solve_linear(parse_dim("N*S"), 6) is None  # not linear in one symbol
    assert solve_linear(4, 4) is None


def test_dim_binder_binds_new_symbols_and_checks_given_ones() -> None:
    binder = DimBinder({"N": 2})
    t = TensorType.of("f32", ("N", "K"))
    assert binder.match("out", t, (2, 7)) == []
    assert binder.dims == {"N": 2, "K": 7}
    (problem,) = binder.match("out2", t, (3, 7))
    assert "N=2 (from given)" in problem
