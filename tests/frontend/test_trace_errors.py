"""A catalogue of DSL misuse: each case fails at trace time with an error for people.

Every case is a small model defined here. Its offending line carries a marker
comment ``# <case-name>``; the test finds that line in this file's source (so
no line number is hard-coded) and checks that the error

- has the right type (``ShapeError``, ``DTypeError``, ``AttributeValueError``,
  ``TraceError``),
- names the user's source line: ``test_trace_errors.py:<line of the marker>``,
- names the op and the shapes involved (e.g. ``f32[N,3,16,16]``),
- says how to fix it (a ``fix:`` hint).

Errors raised when a module is *built* (not traced) are checked at the end,
separately: they name the user's line too, but do not count as trace errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec
from nanograph.frontend.tracer import TraceError
from nanograph.ir.errors import (
    AttributeValueError,
    DTypeError,
    NanographError,
    ShapeError,
)

FILE = Path(__file__).name
_SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# <marker>`` (exactly one)."""
    tag = f"# <{marker}>"
    hits = [i for i, text in enumerate(_SOURCE, start=1) if text.rstrip().endswith(tag)]
    assert len(hits) == 1, f"marker {tag} found on lines {hits}"
    return hits[0]


def x_spec(*shape: object, name: str = "x", dtype: str = "f32") -> InputSpec:
    value_range = (0, 10) if dtype in ("i64", "i32") else None
    return InputSpec(name, shape, dtype, value_range=value_range)


# models ---------------------------------------------------------------------------------
class ConvChannels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x: ng.frontend.Tensor) -> Any:
        return self.conv1(x)  # <conv-channels>


def conv_groups(x: Any) -> Any:
    w = np.zeros((8, 2, 3, 3), np.float32)  # 8 output channels cannot form 3 groups
    return F.conv2d(x, w, groups=3)  # <conv-groups>


class ConvKernelTooLarge(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 7, padding=1)

    def forward(self, x: Any) -> Any:
        return self.conv(x)  # <conv-kernel>


class ConvNoBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: Any) -> Any:
        return self.conv(x)  # <conv-rank>


def matmul_inner(x: Any) -> Any:
    w = np.ones((4, 3), np.float32)
    return x @ w  # <matmul-inner>


class LinearInFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 4)

    def forward(self, x: Any) -> Any:
        h = x.flatten(1)
        return self.fc(h)  # <linear-in-features>


def reshape_count(x: Any) -> Any:
    return x.reshape(x.shape[0], 7)  # <reshape-count>


def reshape_two_holes(x: Any) -> Any:
    return x.reshape(-1, 2, -1)  # <reshape-two-holes>


def softmax_axis(x: Any) -> Any:
    return x.softmax(dim=2)  # <softmax-axis>


def permute_bad(x: Any) -> Any:
    return x.permute(0, 2, 2)  # <permute-bad>


def transpose_out_of_range(x: Any) -> Any:
    return x.transpose(1, 3)  # <transpose-range>


def add_broadcast(x: Any, y: Any) -> Any:
    return x + y  # <add-broadcast>


def add_mixed_dtypes(x: Any, ids: Any) -> Any:
    return x + ids  # <add-dtypes>


def concat_mismatch(x: Any, y: Any) -> Any:
    return F.cat([x, y], dim=1)  # <concat-mismatch>


def split_sizes(x: Any) -> Any:
    a, _ = F.split(x, [3, 4], dim=1)  # <split-sizes>
    return a


def relu_on_ids(ids: Any) -> Any:
    return F.relu(ids)  # <relu-int>


def sqrt_of_ids(ids: Any) -> Any:
    return ids.sqrt()  # <sqrt-int>


def where_float_condition(x: Any) -> Any:
    return F.where(x, x, 0.0)  # <where-condition>


class LayerNormWrongShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(6)

    def forward(self, x: Any) -> Any:
        return self.norm(x)  # <layer-norm-shape>


class BatchNormChannels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x: Any) -> Any:
        return self.bn(x)  # <batch-norm-channels>


class EmbeddingFloatIds(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)

    def forward(self, ids: Any) -> Any:
        return self.embed(ids)  # <embedding-float>


def gelu_bad_approximate(x: Any) -> Any:
    return F.gelu(x, approximate="fast")  # <gelu-attr>


def unknown_attribute(x: Any) -> Any:
    return F.emit("softmax", x, dim=1)  # <unknown-attr>


class PoolTooLarge(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(5)

    def forward(self, x: Any) -> Any:
        return self.pool(x)  # <pool-kernel>


class PositionsTooLong(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.SinusoidalPositionalEncoding(8, max_len=16)

    def forward(self, x: Any) -> Any:
        return self.pos(x)  # <positions-too-long>


class AttentionWrongWidth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiHeadAttention(16, 4)

    def forward(self, x: Any) -> Any:
        return self.attn(x)  # <attention-width>


class AttentionMaskShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiHeadAttention(8, 2)

    def forward(self, x: Any, mask: Any) -> Any:
        return self.attn(x, mask=mask)  # <attention-mask>


def truth_value(x: Any) -> Any:
    if x.sum() > 0:  # <truth-value>
        return x
    return -x


def negative_step(x: Any) -> Any:
    return x[:, ::-1]  # <negative-step>


def too_many_indices(x: Any) -> Any:
    return x[0, 1, 2]  # <too-many-indices>


def tensor_index(x: Any, ids: Any) -> Any:
    return x[ids]  # <tensor-index>


def index_out_of_range(x: Any) -> Any:
    return x[:, 4]  # <index-range>


def layer_norm_bias_only(x: Any) -> Any:
    return F.layer_norm(x, 4, bias=np.zeros(4, np.float32))  # <layer-norm-bias>


class ForgetsToReturn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Any) -> None:  # <no-return>
        self.fc(x)


def squeeze_non_one(x: Any) -> Any:
    return x.squeeze(1)  # <squeeze>


def expand_incompatible(x: Any) -> Any:
    return x.expand(x.shape[0], 3, 5)  # <expand>


def pad_odd(x: Any) -> Any:
    return F.pad(x, (1, 1, 1))  # <pad-odd>


def cast_unsupported(x: Any) -> Any:
    return x.to("float64")  # <cast-dtype>


def split_symbolic_chunks(x: Any) -> Any:
    return F.split(x, 2, dim=0)  # <split-symbolic>


def returns_shape(x: Any) -> Any:
    y = x.relu()
    return y.shape  # <return-non-tensor>


def returns_tuple_with_int(x: Any) -> Any:
    return x.relu(), 3  # <return-tuple-int>


_KEPT: list[Any] = []


def keep_tensor(x: Any) -> Any:
    _KEPT.append(x)
    return x.relu()


def tensor_from_other_trace(x: Any) -> Any:
    return x + _KEPT[-1]  # <other-trace>


def nested_trace(x: Any) -> Any:
    ng.trace(F.relu, x_spec(2))  # <nested-trace>
    return x


# the catalogue --------------------------------------------------------------------------
@dataclass
class Case:
    """One misuse: the model, its input specs, the error type and what the message names."""

    marker: str
    model: Callable[[], Callable[..., Any]]
    specs: list[InputSpec]
    error: type[NanographError]
    names: list[str] = field(default_factory=list)
    hint: bool = True  # False where the op's inference gives no fix yet (reported upstream)

    def __str__(self) -> str:
        return self.marker


def _mask_spec() -> InputSpec:
    return InputSpec("mask", ("S", 5), "bool")


CASES = [
    Case(
        "conv-channels",
        ConvChannels,
        [x_spec("N", 3, 16, 16)],
        ShapeError,
        ["conv2d", "f32[N,3,16,16]", "f32[8,4,3,3]", "conv1"],
    ),
    Case(
        "conv-groups",
        lambda: conv_groups,
        [x_spec("N", 6, 8, 8)],
        ShapeError,
        ["conv2d", "groups=3", "f32[N,6,8,8]", "f32[8,2,3,3]"],
    ),
    Case(
        "conv-kernel",
        ConvKernelTooLarge,
        [x_spec(1, 3, 4, 4)],
        ShapeError,
        ["conv2d", "f32[1,3,4,4]", "f32[8,3,7,7]", "kernel 7"],
    ),
    Case(
        "conv-rank",
        ConvNoBatch,
        [x_spec(3, 16, 16)],
        ShapeError,
        ["conv2d", "f32[3,16,16]", "rank 4"],
        hint=False,  # ir.ops.inference.require_rank has no hint
    ),
    Case(
        "matmul-inner",
        lambda: matmul_inner,
        [x_spec("N", 5)],
        ShapeError,
        ["matmul", "[N,5] @ [4,3]", "f32[N,5]", "f32[4,3]"],
    ),
    Case(
        "linear-in-features",
        LinearInFeatures,
        [x_spec("N", 2, 4)],
        ShapeError,
        ["matmul", "f32[N,8]", "f32[10,4]", "fc (Linear)"],
    ),
    Case(
        "reshape-count",
        lambda: reshape_count,
        [x_spec("N", 3, 4)],
        ShapeError,
        ["reshape", "f32[N,3,4]", "[N,7]"],
    ),
    Case(
        "reshape-two-holes",
        lambda: reshape_two_holes,
        [x_spec(2, 3, 4)],
        ShapeError,
        ["reshape", "f32[2,3,4]", "[-1,2,-1]", "one -1"],
    ),
    Case(
        "softmax-axis",
        lambda: softmax_axis,
        [x_spec("N", 10)],
        ShapeError,
        ["softmax", "axis 2", "f32[N,10]"],
    ),
    Case(
        "permute-bad",
        lambda: permute_bad,
        [x_spec("N", 3, 4)],
        ShapeError,
        ["transpose", "[0, 2, 2]", "f32[N,3,4]"],
    ),
    Case(
        "transpose-range",
        lambda: transpose_out_of_range,
        [x_spec("N", 3, 4)],
        ShapeError,
        ["transpose", "dim 3", "f32[N,3,4]"],
    ),
    Case(
        "add-broadcast",
        lambda: add_broadcast,
        [x_spec("N", 3, 4), x_spec("N", 4, 3, name="y")],
        ShapeError,
        ["add", "f32[N,3,4]", "f32[N,4,3]", "broadcast"],
    ),
    Case(
        "add-dtypes",
        lambda: add_mixed_dtypes,
        [x_spec("N", 4), x_spec("N", 4, name="ids", dtype="i64")],
        DTypeError,
        ["add", "f32[N,4]", "i64[N,4]"],
    ),
    Case(
        "concat-mismatch",
        lambda: concat_mismatch,
        [x_spec("N", 3, 4), x_spec("N", 2, 5, name="y")],
        ShapeError,
        ["concat", "f32[N,3,4]", "f32[N,2,5]"],
    ),
    Case(
        "split-sizes",
        lambda: split_sizes,
        [x_spec("N", 6)],
        ShapeError,
        ["split", "[3,4]", "f32[N,6]"],
    ),
    Case(
        "relu-int",
        lambda: relu_on_ids,
        [x_spec("N", "S", dtype="i64", name="ids")],
        DTypeError,
        ["relu", "i64[N,S]", "float"],
    ),
    Case(
        "sqrt-int",
        lambda: sqrt_of_ids,
        [x_spec("N", "S", dtype="i64", name="ids")],
        DTypeError,
        ["sqrt", "i64[N,S]", "float"],
    ),
    Case(
        "where-condition",
        lambda: where_float_condition,
        [x_spec("N", 4)],
        DTypeError,
        ["where", "condition", "bool", "f32[N,4]"],
    ),
    Case(
        "layer-norm-shape",
        LayerNormWrongShape,
        [x_spec("N", "S", 8)],
        ShapeError,
        ["layer_norm", "f32[N,S,8]", "normalized_shape [6]", "norm (LayerNorm)"],
    ),
    Case(
        "batch-norm-channels",
        BatchNormChannels,
        [x_spec("N", 8, 4, 4)],
        ShapeError,
        ["batch_norm", "f32[N,8,4,4]", "f32[16]", "bn (BatchNorm2d)"],
    ),
    Case(
        "embedding-float",
        EmbeddingFloatIds,
        [x_spec("N", "S", name="ids")],
        DTypeError,
        ["gather", "indices", "f32[N,S]", "f32[10,4]", "embed (Embedding)"],
    ),
    Case(
        "gelu-attr",
        lambda: gelu_bad_approximate,
        [x_spec("N", 4)],
        AttributeValueError,
        ["gelu", "approximate='fast'", "'tanh'", "f32[N,4]"],
    ),
    Case(
        "unknown-attr",
        lambda: unknown_attribute,
        [x_spec("N", 4)],
        AttributeValueError,
        ["softmax", "unknown attribute", "dim", "axis", "f32[N,4]"],
    ),
    Case(
        "pool-kernel",
        PoolTooLarge,
        [x_spec("N", 3, 4, 4)],
        ShapeError,
        ["max_pool2d", "f32[N,3,4,4]", "kernel 5"],
    ),
    Case(
        "positions-too-long",
        PositionsTooLong,
        [x_spec("N", 32, 8)],
        ShapeError,
        ["positional", "f32[N,32,8]", "max_len=16", "pos (SinusoidalPositionalEncoding)"],
    ),
    Case(
        "attention-width",
        AttentionWrongWidth,
        [x_spec("N", "S", 8)],
        ShapeError,
        ["matmul", "f32[N,S,8]", "f32[16,16]", "attn.q_proj (Linear)"],
    ),
    Case(
        "attention-mask",
        AttentionMaskShape,
        [x_spec("N", "S", 8), _mask_spec()],
        ShapeError,
        ["where", "bool[S,5]", "f32[N,2,S,S]", "attn (MultiHeadAttention)"],
    ),
    Case(
        "truth-value",
        lambda: truth_value,
        [x_spec("N", 4)],
        TraceError,
        ["truth value", "bool[]", "F.where"],
    ),
    Case(
        "negative-step",
        lambda: negative_step,
        [x_spec("N", 4)],
        TraceError,
        ["slice", "step", "-1", "f32[N,4]"],
    ),
    Case(
        "too-many-indices",
        lambda: too_many_indices,
        [x_spec("N", 4)],
        TraceError,
        ["index", "3", "f32[N,4]"],
    ),
    Case(
        "tensor-index",
        lambda: tensor_index,
        [x_spec("N", 4), x_spec("K", name="ids", dtype="i64")],
        TraceError,
        ["index", "i64[K]", "f32[N,4]", "embedding"],
    ),
    Case(
        "index-range",
        lambda: index_out_of_range,
        [x_spec("N", 4)],
        ShapeError,
        ["index 4", "axis 1", "f32[N,4]"],
    ),
    Case(
        "layer-norm-bias",
        lambda: layer_norm_bias_only,
        [x_spec("N", 4)],
        TraceError,
        ["layer_norm", "f32[N,4]", "weight"],
    ),
    Case(
        "no-return",
        ForgetsToReturn,
        [x_spec("N", 4)],
        TraceError,
        ["returned NoneType", "Tensor"],
    ),
    Case(
        "squeeze",
        lambda: squeeze_non_one,
        [x_spec("N", 4)],
        ShapeError,
        ["squeeze", "axis 1", "f32[N,4]"],
    ),
    Case(
        "expand",
        lambda: expand_incompatible,
        [x_spec("N", 4, 5)],
        ShapeError,
        ["expand", "f32[N,4,5]", "[N,3,5]"],
    ),
    Case(
        "pad-odd",
        lambda: pad_odd,
        [x_spec("N", 4)],
        TraceError,
        ["pad", "(1, 1, 1)", "f32[N,4]"],
    ),
    Case(
        "cast-dtype",
        lambda: cast_unsupported,
        [x_spec("N", 4)],
        DTypeError,
        ["cast", "float64", "f32[N,4]"],
    ),
    Case(
        "split-symbolic",
        lambda: split_symbolic_chunks,
        [x_spec("N", 4)],
        TraceError,
        ["split", "f32[N,4]", "chunks of 2"],
    ),
    Case(
        "return-non-tensor",
        lambda: returns_shape,
        [x_spec("N", 4)],
        TraceError,
        ["returned tuple", "Tensor"],
    ),
    Case(
        "return-tuple-int",
        lambda: returns_tuple_with_int,
        [x_spec("N", 4)],
        TraceError,
        ["output 1", "int", "Tensor"],
    ),
    Case(
        "other-trace",
        lambda: tensor_from_other_trace,
        [x_spec("N", 4)],
        TraceError,
        ["add", "f32[N,4]", "another trace"],
    ),
    Case(
        "nested-trace",
        lambda: nested_trace,
        [x_spec("N", 4)],
        TraceError,
        ["trace", "another trace"],
    ),
]


def _prepare(case: Case) -> None:
    if case.marker == "other-trace":  # a tensor kept from an earlier, finished trace
        ng.trace(keep_tensor, x_spec("N", 4))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_misuse_fails_at_trace_time_naming_line_op_and_shapes(case: Case) -> None:
    _prepare(case)
    with pytest.raises(case.error) as info:
        ng.trace(case.model(), *case.specs)
    err = info.value
    message = str(err)
    assert f"{FILE}:{line_of(case.marker)}" in message, message
    assert f"{FILE}:{line_of(case.marker)}" in err.loc
    for name in case.names:
        assert name in message, f"{name!r} not in:\n{message}"
    if case.hint:
        assert err.hint, f"no fix suggested:\n{message}"


def test_catalogue_has_at_least_fifteen_distinct_trace_time_cases() -> None:
    markers = [c.marker for c in CASES]
    assert len(set(markers)) == len(markers) >= 15


# outside a trace --------------------------------------------------------------------------
def test_tensor_used_after_its_trace_names_the_line_and_the_op() -> None:
    kept: list[Any] = []

    def model(x: Any) -> Any:
        kept.append(x)
        return x.relu()

    ng.trace(model, x_spec("N", 4))
    with pytest.raises(TraceError) as info:
        kept[0] * 2  # <outside-trace>
    message = str(info.value)
    assert f"{FILE}:{line_of('outside-trace')}" in message
    assert "mul" in message and "f32[N,4]" in message
    assert info.value.hint


# errors when a module is built, not traced -------------------------------------------------
def build_grouped_conv() -> Any:
    return nn.Conv2d(6, 8, 3, groups=4)  # <build-conv-groups>


def build_attention_heads() -> Any:
    return nn.MultiHeadAttention(10, 3)  # <build-mha-heads>


def build_attention_window() -> Any:
    return nn.MultiHeadAttention(8, 2, window=-1)  # <build-mha-window>


def build_encoder_activation() -> Any:
    return nn.TransformerEncoderLayer(8, 2, activation="swish")  # <build-encoder-activation>


def build_adaptive_pool() -> Any:
    return nn.AdaptiveAvgPool2d(2)  # <build-adaptive-pool>


@pytest.mark.parametrize(
    ("marker", "build", "names"),
    [
        ("build-conv-groups", build_grouped_conv, ["Conv2d", "in_channels=6", "groups=4"]),
        ("build-mha-heads", build_attention_heads, ["embed_dim=10", "num_heads=3"]),
        ("build-mha-window", build_attention_window, ["MultiHeadAttention", "window=-1"]),
        ("build-encoder-activation", build_encoder_activation, ["swish", "relu"]),
        ("build-adaptive-pool", build_adaptive_pool, ["AdaptiveAvgPool2d", "output_size=1"]),
    ],
)
def test_bad_module_arguments_fail_when_built(
    marker: str, build: Callable[[], Any], names: list[str]
) -> None:
    """Not trace errors (not counted above), but located and explained the same way."""
    with pytest.raises(AttributeValueError) as info:
        build()
    message = str(info.value)
    assert f"{FILE}:{line_of(marker)}" in message, message
    for name in names:
        assert name in message, f"{name!r} not in:\n{message}"
    assert info.value.hint


def test_int_input_without_value_range_is_refused() -> None:
    with pytest.raises(ng.InputError, match="value_range"):
        InputSpec("ids", ("N", "S"), "i64")


def test_errors_point_at_the_models_line_not_nanographs() -> None:
    """Through Sequential and nested modules, the location is still the user's call."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(6, 2))
    with pytest.raises(ShapeError) as info:
        ng.trace(model, x_spec("N", 4))  # <sequential>
    # Sequential.forward is nanograph's code, so the nearest user line is the trace call.
    assert f"{FILE}:{line_of('sequential')}" in str(info.value)
    assert "2 (Linear)" in str(info.value)
