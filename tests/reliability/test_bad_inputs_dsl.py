"""Bad input catalogue, DSL misuse: shape, dtype, axis and attribute errors at trace time.

Each model's offending line ends with ``# <case>``; the error must name that
line of this file (``test_bad_inputs_dsl.py:LINE``), say what is wrong and
carry a ``fix:`` hint. The full DSL list lives in tests/frontend/test_trace_errors.py;
these are the catalogue's representatives of each kind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec
from nanograph.ir.errors import (
    AttributeValueError,
    DTypeError,
    NanographError,
    ShapeError,
    TraceError,
)
from tests.reliability.clear_error import assert_clear

_SOURCE = Path(__file__).read_text().splitlines()


def where(marker: str) -> str:
    """``test_bad_inputs_dsl.py:LINE`` of the one line ending with ``# <marker>``."""
    hits = [i for i, t in enumerate(_SOURCE, 1) if t.rstrip().endswith(f"# <{marker}>")]
    assert len(hits) == 1, hits
    return f"{Path(__file__).name}:{hits[0]}"


class WrongChannels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x: Any) -> Any:
        return self.conv(x)  # <conv-in-channels>


class WrongFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 4)

    def forward(self, x: Any) -> Any:
        return self.fc(x)  # <linear-in-features>


def matmul_inner(x: Any) -> Any:
    return x @ np.ones((5, 2), np.float32)  # <matmul-inner>


def broadcast(x: Any, y: Any) -> Any:
    return x * y  # <mul-broadcast>


def mixed_dtypes(x: Any, ids: Any) -> Any:
    return x - ids  # <sub-dtypes>


def relu_of_ints(ids: Any) -> Any:
    return F.relu(ids)  # <relu-int>


def softmax_axis(x: Any) -> Any:
    return x.softmax(dim=3)  # <softmax-axis>


def transpose_axis(x: Any) -> Any:
    return x.transpose(0, 4)  # <transpose-axis>


def gelu_attribute(x: Any) -> Any:
    return F.gelu(x, approximate="quick")  # <gelu-attribute>


def reshape_elements(x: Any) -> Any:
    return x.reshape(x.shape[0], 7)  # <reshape-elements>


X = InputSpec("x", ("N", 3, 8), "f32")
IDS = InputSpec("ids", ("N", 3, 8), "i64", value_range=(0, 9))

CASES: dict[str, tuple[Callable[[], Any], list[InputSpec], type[NanographError], str]] = {
    "conv-in-channels": (WrongChannels, [InputSpec("x", ("N", 3, 8, 8), "f32")], ShapeError, "4"),
    "linear-in-features": (WrongFeatures, [X], ShapeError, "10"),
    "matmul-inner": (lambda: matmul_inner, [X], ShapeError, "matmul"),
    "mul-broadcast": (
        lambda: broadcast,
        [X, InputSpec("y", ("N", 4, 8), "f32")],
        ShapeError,
        "broadcast",
    ),
    "sub-dtypes": (lambda: mixed_dtypes, [X, IDS], DTypeError, "i64"),
    "relu-int": (lambda: relu_of_ints, [IDS], DTypeError, "relu"),
    "softmax-axis": (lambda: softmax_axis, [X], ShapeError, "axis 3 is out of range"),
    "transpose-axis": (lambda: transpose_axis, [X], ShapeError, "dim 4 is out of range"),
    "gelu-attribute": (lambda: gelu_attribute, [X], AttributeValueError, "quick"),
    "reshape-elements": (lambda: reshape_elements, [X], ShapeError, "reshape"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dsl_misuse_names_the_users_line(case: str) -> None:
    make, specs, kind, what = CASES[case]
    with pytest.raises(NanographError) as info:
        ng.trace(make(), *specs)
    assert_clear(info.value, kind, what, where(case))


def test_a_dsl_call_outside_trace_is_refused() -> None:
    with pytest.raises(NanographError) as info:
        F.relu(np.zeros(3, np.float32))  # type: ignore[arg-type]
    assert_clear(info.value, TraceError, "relu", "trace")
