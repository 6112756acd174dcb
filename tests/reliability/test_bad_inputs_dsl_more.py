"""Bad input catalogue, more DSL misuse: layer_norm shapes, Python values of traced tensors,
module constructor arguments, input specs, axis arguments and empty reductions.

Each offending line ends with ``# <case>``; the error must be of the stated type,
name that line of this file (``test_bad_inputs_dsl_more.py:LINE``), say what was
wrong and carry a ``fix:`` hint. Where the DSL follows PyTorch instead of refusing
(``dim=()`` reduces every axis), the result is compared with torch.
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
    InputError,
    NanographError,
    ShapeError,
    TraceError,
)
from tests.reliability.clear_error import assert_clear

_SOURCE = Path(__file__).read_text().splitlines()
X = InputSpec("x", ("N", 4))
X3 = InputSpec("x", ("N", 3, 4))


def where(marker: str) -> str:
    """``test_bad_inputs_dsl_more.py:LINE`` of the one line ending with ``# <marker>``."""
    hits = [i for i, t in enumerate(_SOURCE, 1) if t.rstrip().endswith(f"# <{marker}>")]
    assert len(hits) == 1, hits
    return f"{Path(__file__).name}:{hits[0]}"


def traced(fn: Callable[[Any], Any]) -> nn.Module:
    class Model(nn.Module):
        def forward(self, x: Any) -> Any:
            return fn(x)

    return Model()


# layer_norm: normalized_shape must be x's trailing dims --------------------------------
class LayerNormOfFive(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(5)

    def forward(self, x: Any) -> Any:
        return self.norm(x)  # <module-layer-norm>


TRACE_CASES: dict[str, tuple[Callable[[], Any], InputSpec, type[NanographError], str]] = {
    "layer-norm-last-dim": (
        lambda: traced(lambda x: F.layer_norm(x, (5,))),  # <layer-norm-last-dim>
        X,
        ShapeError,
        "normalized_shape [5] does not match x f32[N,4]",
    ),
    "layer-norm-two-dims": (
        lambda: traced(lambda x: F.layer_norm(x, (2, 4))),  # <layer-norm-two-dims>
        X3,
        ShapeError,
        "normalized_shape [2,4] does not match x f32[N,3,4]: its last 2 dim(s) are [3,4]",
    ),
    "layer-norm-too-many": (
        lambda: traced(lambda x: F.layer_norm(x, (2, 3, 4, 5))),  # <layer-norm-too-many>
        X3,
        ShapeError,
        "x has only 3 dims",
    ),
    "layer-norm-empty": (
        lambda: traced(lambda x: F.layer_norm(x, ())),  # <layer-norm-empty>
        X3,
        ShapeError,
        "normalized_shape is empty",
    ),
    "layer-norm-symbolic": (
        lambda: traced(lambda x: F.layer_norm(x, x.shape[:1])),  # <layer-norm-symbolic>
        X,
        ShapeError,
        "normalized_shape [N] does not match x f32[N,4]",
    ),
    "layer-norm-eps": (
        lambda: traced(lambda x: F.layer_norm(x, 4, eps=-1.0)),  # <layer-norm-eps>
        X,
        AttributeValueError,
        "F.layer_norm: eps=-1.0 is not a finite number >= 0",
    ),
    "module-layer-norm": (LayerNormOfFive, X, ShapeError, "normalized_shape [5]"),
    # Python values of a traced tensor ---------------------------------------------------
    "float": (lambda: traced(lambda x: float(x)), X, TraceError, "float() on"),  # <float>
    "int": (lambda: traced(lambda x: x * int(x)), X, TraceError, "int() on"),  # <int>
    "index": (lambda: traced(lambda x: [x][x]), X, TraceError, "as a Python int"),  # <index>
    "len": (lambda: traced(lambda x: x * len(x)), X, TraceError, "len() of"),  # <len>
    "len-static": (
        lambda: traced(lambda x: x * len(x)),  # <len-static>
        InputSpec("x", (3, 4)),
        TraceError,
        "its first dim is 3",
    ),
    "numpy": (lambda: traced(lambda x: x.numpy()), X, TraceError, ".numpy() on"),  # <numpy>
    "item": (lambda: traced(lambda x: x.sum().item()), X, TraceError, ".item() on"),  # <item>
    "tolist": (lambda: traced(lambda x: x.tolist()), X, TraceError, ".tolist() on"),  # <tolist>
    # axis arguments -----------------------------------------------------------------------
    "softmax-dim-str": (
        lambda: traced(lambda x: F.softmax(x, dim="a")),  # <softmax-dim-str>
        X,
        AttributeValueError,
        "F.softmax: dim='a' is str, not an int axis",
    ),
    "softmax-dim-float": (
        lambda: traced(lambda x: F.softmax(x, dim=1.0)),  # <softmax-dim-float>
        X,
        AttributeValueError,
        "F.softmax: dim=1.0 is float",
    ),
    "mean-dim-float": (
        lambda: traced(lambda x: x.mean(dim=(0, 1.0))),  # <mean-dim-float>
        X,
        AttributeValueError,
        "F.mean: dim=1.0 is float",
    ),
    "transpose-dim-float": (
        lambda: traced(lambda x: x.transpose(0, 1.0)),  # <transpose-dim-float>
        X,
        AttributeValueError,
        "F.transpose: dim=1.0 is float",
    ),
    "max-pool-stride": (
        lambda: traced(lambda x: F.max_pool2d(x, 2, stride=0)),  # <max-pool-stride>
        InputSpec("x", ("N", 1, 4, 4)),
        AttributeValueError,
        "F.max_pool2d: stride=0 is not an int >= 1",
    ),
}


@pytest.mark.parametrize("case", sorted(TRACE_CASES))
def test_trace_time_misuse_is_refused_at_the_users_line(case: str) -> None:
    make, spec, kind, what = TRACE_CASES[case]
    with pytest.raises(NanographError) as info:
        ng.trace(make(), spec)
    assert_clear(info.value, kind, what, where(case))


# module constructors: the error names the line that built the module ----------------
def linear_negative() -> Any:
    return nn.Linear(-1, 3)  # <linear-negative>


def linear_float() -> Any:
    return nn.Linear(2.5, 3)  # <linear-float>


def linear_zero() -> Any:
    return nn.Linear(4, 0)  # <linear-zero>


def conv_padding() -> Any:
    return nn.Conv2d(3, 4, 3, padding=-1)  # <conv-padding>


def conv_stride() -> Any:
    return nn.Conv2d(3, 4, 3, stride=0)  # <conv-stride>


def conv_kernel() -> Any:
    return nn.Conv2d(3, 4, 0)  # <conv-kernel>


def conv_kernel_rank() -> Any:
    return nn.Conv2d(3, 4, (3,))  # <conv-kernel-rank>


def conv_channels() -> Any:
    return nn.Conv2d(0, 4, 3)  # <conv-channels>


def conv_groups_zero() -> Any:
    return nn.Conv2d(4, 4, 3, groups=0)  # <conv-groups-zero>


def conv_groups() -> Any:
    return nn.Conv2d(3, 4, 3, groups=2)  # <conv-groups>


def max_pool_kernel() -> Any:
    return nn.MaxPool2d(0)  # <max-pool-kernel>


def avg_pool_kernel() -> Any:
    return nn.AvgPool2d(0)  # <avg-pool-kernel>


def pool_padding() -> Any:
    return nn.MaxPool2d(2, padding=2)  # <pool-padding>


def build_layer_norm_eps() -> Any:
    return nn.LayerNorm(4, eps=-1)  # <build-layer-norm-eps>


def layer_norm_nan_eps() -> Any:
    return nn.LayerNorm(4, eps=float("nan"))  # <layer-norm-nan-eps>


def build_layer_norm_shape() -> Any:
    return nn.LayerNorm(())  # <build-layer-norm-shape>


def batch_norm_features() -> Any:
    return nn.BatchNorm2d(0)  # <batch-norm-features>


def batch_norm_eps() -> Any:
    return nn.BatchNorm2d(3, eps=-1e-3)  # <batch-norm-eps>


def embedding_rows() -> Any:
    return nn.Embedding(-1, 3)  # <embedding-rows>


def embedding_dim() -> Any:
    return nn.Embedding(10, 0)  # <embedding-dim>


def attention_heads() -> Any:
    return nn.MultiHeadAttention(8, 0)  # <attention-heads>


def encoder_dropout() -> Any:
    return nn.TransformerEncoderLayer(8, 2, dropout=2.0)  # <encoder-dropout>


def encoder_eps() -> Any:
    return nn.TransformerEncoderLayer(8, 2, layer_norm_eps=-1.0)  # <encoder-eps>


def dropout_p() -> Any:
    return nn.Dropout(1.5)  # <dropout-p>


def softmax_dim() -> Any:
    return nn.Softmax(dim=1.0)  # <softmax-dim>


def positions() -> Any:
    return nn.LearnedPositionalEncoding(-3, 4)  # <positions>


BUILD_CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "linear-negative": (linear_negative, "Linear: in_features=-1 is not an int >= 1"),
    "linear-float": (linear_float, "Linear: in_features=2.5"),
    "linear-zero": (linear_zero, "Linear: out_features=0"),
    "conv-padding": (conv_padding, "Conv2d: padding=-1"),
    "conv-stride": (conv_stride, "Conv2d: stride=0"),
    "conv-kernel": (conv_kernel, "Conv2d: kernel_size=0"),
    "conv-kernel-rank": (conv_kernel_rank, "kernel_size=(3,)"),
    "conv-channels": (conv_channels, "Conv2d: in_channels=0"),
    "conv-groups-zero": (conv_groups_zero, "Conv2d: groups=0"),
    "conv-groups": (conv_groups, "divisible by groups=2"),
    "max-pool-kernel": (max_pool_kernel, "MaxPool2d: kernel_size=0"),
    "avg-pool-kernel": (avg_pool_kernel, "AvgPool2d: kernel_size=0"),
    "pool-padding": (pool_padding, "more than half"),
    "build-layer-norm-eps": (build_layer_norm_eps, "LayerNorm: eps=-1 is not a finite number >= 0"),
    "layer-norm-nan-eps": (layer_norm_nan_eps, "eps=nan"),
    "build-layer-norm-shape": (build_layer_norm_shape, "normalized_shape=() is empty"),
    "batch-norm-features": (batch_norm_features, "BatchNorm2d: num_features=0"),
    "batch-norm-eps": (batch_norm_eps, "BatchNorm2d: eps=-0.001"),
    "embedding-rows": (embedding_rows, "Embedding: num_embeddings=-1"),
    "embedding-dim": (embedding_dim, "Embedding: embedding_dim=0"),
    "attention-heads": (attention_heads, "num_heads=0"),
    "encoder-dropout": (encoder_dropout, "dropout=2.0 is not a finite number in [0, 1]"),
    "encoder-eps": (encoder_eps, "layer_norm_eps=-1.0"),
    "dropout-p": (dropout_p, "Dropout: p=1.5"),
    "softmax-dim": (softmax_dim, "Softmax: dim=1.0"),
    "positions": (positions, "max_len=-3"),
}


@pytest.mark.parametrize("case", sorted(BUILD_CASES))
def test_bad_module_arguments_are_refused_where_the_module_is_built(case: str) -> None:
    build, what = BUILD_CASES[case]
    with pytest.raises(NanographError) as info:
        build()
    assert_clear(info.value, AttributeValueError, what, where(case))


# input specs: refused where they are written ------------------------------------------------
def spec_negative() -> Any:
    return InputSpec("x", ("N", -4))  # <spec-negative>


def spec_zero() -> Any:
    return InputSpec("x", ("N", 0))  # <spec-zero>


def spec_bool() -> Any:
    return InputSpec("x", ("N", True))  # <spec-bool>


def spec_float() -> Any:
    return InputSpec("x", ("N", 4.0))  # <spec-float>


def spec_space() -> Any:
    return InputSpec("x", ("N x", 4))  # <spec-space>


def spec_string() -> Any:
    return InputSpec("x", "N,4")  # <spec-string>


def spec_name() -> Any:
    return InputSpec("", ("N", 4))  # <spec-name>


def spec_dtype() -> Any:
    return InputSpec("x", (4,), "float64")  # <spec-dtype>


SPEC_CASES: dict[str, tuple[Callable[[], Any], type[NanographError], str]] = {
    "spec-negative": (spec_negative, ShapeError, "dim 1 is -4"),
    "spec-zero": (spec_zero, ShapeError, "dim 1 is 0"),
    "spec-bool": (spec_bool, ShapeError, "a bool, not an int"),
    "spec-float": (spec_float, ShapeError, "a float, not an int"),
    "spec-space": (spec_space, ShapeError, "'N x' is not a symbol"),
    "spec-string": (spec_string, ShapeError, "shape 'N,4' is not a tuple"),
    "spec-name": (spec_name, InputError, "name must be a non-empty str"),
    "spec-dtype": (spec_dtype, DTypeError, "input 'x': unsupported dtype"),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_input_specs_are_refused_when_written(case: str) -> None:
    build, kind, what = SPEC_CASES[case]
    with pytest.raises(NanographError) as info:
        build()
    assert_clear(info.value, kind, what, where(case))


def test_two_inputs_with_one_name_are_refused_at_trace() -> None:
    model = traced(lambda x: x)
    with pytest.raises(NanographError) as info:
        ng.trace(model, InputSpec("x", ("N", 4)), InputSpec("x", ("N", 4)))  # <duplicate-names>
    assert_clear(
        info.value, InputError, "input name 'x' is given to more than one", where("duplicate-names")
    )


class OneInput(nn.Module):
    def forward(self, x: Any) -> Any:  # <forward-def>
        return x


def test_as_many_input_specs_as_forward_arguments() -> None:
    for specs in ([], [X, InputSpec("y", ("N", 4))]):
        with pytest.raises(NanographError) as info:
            ng.trace(OneInput(), *specs)
        assert_clear(
            info.value, TraceError, f"cannot take the {len(specs)} input(s)", where("forward-def")
        )


# what follows PyTorch instead of refusing --------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_an_empty_dim_reduces_every_axis_as_in_pytorch(op: str, keepdim: bool) -> None:
    """``torch.mean(x, dim=())`` is the mean of all elements in PyTorch 2.x (checked against
    torch where installed, else against NumPy's reduction over every axis); it used to be
    the identity here."""
    x = np.linspace(-3, 5, 24, dtype=np.float32).reshape(2, 3, 4)
    try:
        import torch

        expected = getattr(torch, op)(torch.from_numpy(x), dim=(), keepdim=keepdim).numpy()
    except ImportError:
        numpy_op = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min}[op]
        expected = np.asarray(numpy_op(x, axis=None, keepdims=keepdim))
    graph = ng.trace(traced(lambda t: getattr(F, op)(t, dim=(), keepdim=keepdim)), X3)
    for level, backend in [("O0", "numpy-ref"), ("O2", "ort-cpu")]:
        (out,) = ng.compile(graph, level, backend)(x=x).values()
        assert out.shape == expected.shape
        # one f32 sum of 24 values in a different order: a few ulps apart at most
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_squeeze_of_no_dims_is_the_identity_as_in_pytorch() -> None:
    graph = ng.trace(traced(lambda t: t.unsqueeze(1).squeeze(dim=())), X)
    assert graph.outputs[0].type.shape[1:] == (1, 4)


def test_layer_norm_over_the_right_trailing_dims_still_normalizes_them() -> None:
    """Against the definition in NumPy (eps 1e-5, PyTorch's default)."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for shape in [(4,), (3, 4)]:
        graph = ng.trace(traced(lambda t, s=shape: F.layer_norm(t, s)), X3)
        (out,) = ng.compile(graph, "O0")(x=x).values()
        axes = tuple(range(-len(shape), 0))
        x64 = x.astype(np.float64)
        mean, var = x64.mean(axis=axes, keepdims=True), x64.var(axis=axes, keepdims=True)
        expected = (x64 - mean) / np.sqrt(var + 1e-5)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    symbolic = ng.trace(traced(lambda t: F.layer_norm(t, t.shape[-1:])), InputSpec("x", ("N", "E")))
    (norm,) = [n for n in symbolic.nodes if n.op == "layer_norm"]
    assert norm.attrs.get("axis", -1) == -1
