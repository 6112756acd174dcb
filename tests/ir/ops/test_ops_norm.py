"""batch_norm, layer_norm, softmax and linear (with its activations) vs textbook
formulas evaluated element by element with the math module.

Tolerances: rtol 1e-5, atol 1e-6 (float32 output; the formulas run in float64).
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest

from nanograph.ir.errors import ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from tests.ir.ops.op_check import run

RTOL, ATOL = 1e-5, 1e-6


def infer(op, *shapes, **attrs):
    opdef = get_op(op)
    return opdef.infer([TensorType.of("f32", s) for s in shapes], opdef.make_attrs(attrs))[0]


def rand(*shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


# batch_norm ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_batch_norm_per_channel(layout):
    x = rand(2, 3, 4, 5) if layout == "NCHW" else rand(2, 4, 5, 3)
    scale, bias, mean = rand(3, seed=1), rand(3, seed=2), rand(3, seed=3)
    var = np.abs(rand(3, seed=4)) + 0.1
    got = run("batch_norm", x, scale, bias, mean, var, epsilon=1e-3, layout=layout)
    axis = 1 if layout == "NCHW" else 3
    for idx in itertools.product(*(range(n) for n in x.shape)):
        c = idx[axis]
        want = (x[idx] - mean[c]) / math.sqrt(var[c] + 1e-3) * scale[c] + bias[c]
        assert math.isclose(got[idx], want, rel_tol=RTOL, abs_tol=ATOL)


def test_batch_norm_errors():
    with pytest.raises(ShapeError, match=r"var f32\[4\] must have shape \[3\]") as info:
        infer("batch_norm", ["N", 3, "H", "W"], [3], [3], [3], [4])
    assert info.value.hint
    assert str(infer("batch_norm", ["N", "C"], ["C"], ["C"], ["C"], ["C"])) == "f32[N,C]"


# layer_norm ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("axis", "with_scale", "with_bias"),
    [(-1, True, True), (-2, True, True), (1, False, False), (-1, True, False)],
)
def test_layer_norm_textbook(axis, with_scale, with_bias):
    x = rand(2, 3, 4, scale=3.0) + 1.5
    norm_shape = x.shape[axis:]
    inputs = [x]
    scale, bias = rand(*norm_shape, seed=1), rand(*norm_shape, seed=2)
    if with_scale:
        inputs.append(scale)
    if with_bias:
        inputs.append(bias)
    got = run("layer_norm", *inputs, axis=axis, epsilon=1e-5)
    lead = x.shape[: x.ndim - len(norm_shape)]
    for head in itertools.product(*(range(n) for n in lead)):
        row = [float(v) for v in x[head].ravel()]
        mu, var = statistics.fmean(row), statistics.pvariance(row)
        for flat, tail in enumerate(itertools.product(*(range(n) for n in norm_shape))):
            y = (row[flat] - mu) / math.sqrt(var + 1e-5)
            y = y * float(scale[tail]) if with_scale else y
            y = y + float(bias[tail]) if with_bias else y
            assert math.isclose(got[head + tail], y, rel_tol=RTOL, abs_tol=ATOL)


def test_layer_norm_errors():
    with pytest.raises(ShapeError, match=r"scale \[32\] does not broadcast to \[64\]") as info:
        infer("layer_norm", ["N", "S", 64], [32])
    assert info.value.hint
    assert str(infer("layer_norm", ["N", "S", 64], [64], [64])) == "f32[N,S,64]"


# softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_textbook(axis):
    x = rand(3, 4, 5, scale=2.0)
    got = run("softmax", x, axis=axis)
    moved = np.moveaxis(x, axis, -1)
    want = np.empty(moved.shape)
    for idx in np.ndindex(moved.shape[:-1]):
        exps = [math.exp(float(v)) for v in moved[idx]]
        want[idx] = [e / sum(exps) for e in exps]
    np.testing.assert_allclose(got, np.moveaxis(want, -1, axis), rtol=RTOL, atol=ATOL)


def test_softmax_is_stable_and_all_minus_inf_row_is_nan():
    x = np.array([[1000.0, 1001.0, 999.0], [-np.inf, 0.0, -np.inf], [-np.inf] * 3], np.float32)
    got = run("softmax", x)
    e = [math.exp(-1.0), 1.0, math.exp(-2.0)]
    np.testing.assert_allclose(got[0], [v / sum(e) for v in e], rtol=RTOL, atol=ATOL)
    assert list(got[1]) == [0.0, 1.0, 0.0]
    assert np.all(np.isnan(got[2]))


# linear -------------------------------------------------------------------------------------
ACTS = {
    "none": lambda v: v,
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
    "gelu_tanh": lambda v: (
        0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    ),
    "silu": lambda v: v / (1 + math.exp(-v)),
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": math.tanh,
}


@pytest.mark.parametrize("activation", sorted(ACTS))
@pytest.mark.parametrize("bias", [True, False])
def test_linear_textbook(activation, bias):
    x, w, b = rand(2, 3, 5, scale=2.0), rand(5, 4, seed=1), rand(4, seed=2)
    got = run("linear", *([x, w, b] if bias else [x, w]), activation=activation)
    for n, s, o in itertools.product(range(2), range(3), range(4)):
        z = sum(float(x[n, s, i]) * float(w[i, o]) for i in range(5))
        z += float(b[o]) if bias else 0.0
        assert math.isclose(got[n, s, o], ACTS[activation](z), rel_tol=RTOL, abs_tol=ATOL)


def test_linear_infer_and_errors():
    assert str(infer("linear", ["N", "S", 64], [64, 10], [10], activation="gelu")) == "f32[N,S,10]"
    with pytest.raises(ShapeError, match=r"f32\[N,64\] has 64 input features") as info:
        infer("linear", ["N", 64], [10, 64])
    assert "[in, out]" in info.value.hint
    with pytest.raises(ShapeError, match="bias"):
        infer("linear", ["N", 64], [64, 10], [64])
    op = get_op("linear")
    ins = [TensorType.of("f32", s) for s in (["N", 64], [64, 10])]
    attrs = op.make_attrs({"activation": "relu"})
    assert op.cost(ins, op.infer(ins, attrs), attrs).flops == TensorType.of("f32", ["N"]).numel * (
        2 * 64 * 10 + 10
    )
