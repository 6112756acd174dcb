"""The attribute contract that the DSL and the ONNX exporter rely on, the
registry facts of every op, and ``exact_div``, which reshape uses to infer -1."""

from __future__ import annotations

import pytest

from nanograph.ir.attrs import REQUIRED
from nanograph.ir.dims import exact_div, parse_dim
from nanograph.ir.ops import OPS, get_op

R = REQUIRED
WINDOW = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "layout": "NCHW"}
REDUCE = {"axes": None, "keepdims": False}
CONTRACT = {
    "reduce_sum": (("x",), REDUCE),
    "reduce_mean": (("x",), REDUCE),
    "reduce_max": (("x",), REDUCE),
    "reduce_min": (("x",), REDUCE),
    "argmax": (("x",), {"axis": -1, "keepdims": False}),
    "matmul": (("a", "b"), {}),
    "conv2d": (("x", "w", "b?"), {**WINDOW, "groups": 1}),
    "max_pool2d": (("x",), {"kernel": R, **WINDOW, "ceil_mode": False}),
    "avg_pool2d": (("x",), {"kernel": R, **WINDOW, "ceil_mode": False, "count_include_pad": False}),
    "global_avg_pool2d": (("x",), {"layout": "NCHW"}),
    "global_max_pool2d": (("x",), {"layout": "NCHW"}),
    "batch_norm": (("x", "scale", "bias", "mean", "var"), {"epsilon": 1e-5, "layout": "NCHW"}),
    "layer_norm": (("x", "scale?", "bias?"), {"axis": -1, "epsilon": 1e-5}),
    "softmax": (("x",), {"axis": -1}),
    "reshape": (("x",), {"shape": R}),
    "transpose": (("x",), {"perm": R}),
    "flatten": (("x",), {"axis": 1}),
    "squeeze": (("x",), {"axes": R}),
    "unsqueeze": (("x",), {"axes": R}),
    "concat": (("*inputs",), {"axis": R}),
    "split": (("x",), {"axis": 0, "sizes": R}),
    "slice": (("x",), {"starts": R, "ends": R, "axes": None, "steps": None}),
    "expand": (("x",), {"shape": R}),
    "pad": (("x",), {"pads": R, "mode": "constant", "value": 0.0}),
    "gather": (("data", "indices"), {"axis": 0}),
    "shape": (("x",), {}),
    "range": ((), {"start": 0, "limit": R, "delta": 1}),
    "linear": (("x", "w", "b?"), {"activation": "none"}),
    "fused_conv2d": (("x", "w", "b?"), {**WINDOW, "groups": 1, "activation": "none"}),
    "attention": (
        ("q", "k", "v", "mask?"),
        {"scale": None, "causal": False, "window": -1, "num_heads": 0},
    ),
}
ALIASES = {"reshape", "flatten", "squeeze", "unsqueeze"}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_op_contract(name):
    op = get_op(name)
    inputs, attrs = CONTRACT[name]
    assert op.inputs == inputs
    assert {k: spec.default for k, spec in op.attrs.items()} == attrs
    assert op.family and op.doc
    assert op.alias == (0 if name in ALIASES else None)
    assert op.is_fused == (op.family == "fused")


def test_choices():
    acts = ("none", "relu", "relu6", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh")
    assert get_op("linear").attrs["activation"].choices == acts
    assert get_op("fused_conv2d").attrs["activation"].choices == acts
    assert get_op("pad").attrs["mode"].choices == ("constant", "reflect", "edge")
    for name in ("conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "batch_norm"):
        assert get_op(name).attrs["layout"].choices == ("NCHW", "NHWC")


def test_all_contract_ops_registered():
    assert set(CONTRACT) <= set(OPS)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("N*S*64", "N*S", "64"),
        ("2*N+4", "2", "N+2"),
        ("N*N+2*N+1", "N+1", "N+1"),
        ("6*N*S", "3*S", "2*N"),
        ("12", "4", "3"),
        ("0", "N", "0"),
        ("((H-1)//2+1)*8", "(H-1)//2+1", "8"),
    ],
)
def test_exact_div(a, b, want):
    q = exact_div(parse_dim(a), parse_dim(b))
    assert q == parse_dim(want)


@pytest.mark.parametrize(
    ("a", "b"),
    [("N", "2"), ("N*N+2*N+2", "N+1"), ("N", "S"), ("7", "2"), ("N", "0"), ("3*N", "2*N")],
)
def test_exact_div_not_provable(a, b):
    assert exact_div(parse_dim(a), parse_dim(b)) is None
