"""Every op family exported on small hand-built graphs, run in onnxruntime (CPU), vs the reference.

Each case is one node on graph inputs (so nothing is folded away), exported
at opset 17 and 23 (and where an opset changes the lowering, those too), run
by onnxruntime at two sizes of its symbols from ONE exported file, and
compared with ``run_reference``: rtol 1e-4, atol 1e-5 (onnxruntime computes
in float32 with its own accumulation order; the reference accumulates in
float64), NaN equal to NaN, dtypes and shapes exactly equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from nanograph.backends.onnx_export import LOWERINGS, export_onnx
from nanograph.backends.onnx_export.prepare import ALWAYS_EXPANDED
from nanograph.backends.reference import run_reference
from nanograph.ir.dims import Dim, substitute
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph
from nanograph.ir.ops import OPS
from nanograph.ir.ops.slicing import TO_THE_END
from nanograph.ir.types import TensorType

RTOL, ATOL = 1e-4, 1e-5
SIZES = ({"N": 2, "S": 5, "H": 7, "W": 9}, {"N": 3, "S": 8, "H": 10, "W": 6})
Feed = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def positive(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (np.abs(rng.standard_normal(shape)) + 0.1).astype(np.float32)


def ints(low: int, high: int) -> Feed:
    return lambda rng, shape: rng.integers(low, high, shape).astype(np.int64)


def nonzero_ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.integers(1, 6, shape) * rng.choice([-1, 1], shape)
    return values.astype(np.int64)


@dataclass
class Case:
    """One node ``op(inputs, attrs)``; inputs are (name, dtype, shape) with symbols N, S.

    ``carriers`` are extra graph inputs the node does not read: they carry the
    sizes of symbols used only in its attributes (as a model's inputs do).
    """

    id: str
    op: str
    inputs: Sequence[tuple[str, str, tuple[Any, ...]]]
    attrs: dict[str, Any] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    opsets: tuple[int, ...] = (17, 23)
    carriers: Sequence[tuple[str, str, tuple[Any, ...]]] = ()  # graph inputs only giving sizes

    def graph(self) -> Graph:
        g = Graph(self.id)
        values = [g.add_input(n, TensorType.of(dt, shape)) for n, dt, shape in self.inputs]
        for n, dt, shape in self.carriers:
            g.add_input(n, TensorType.of(dt, shape))
        node = g.add(self.op, values, self.attrs, loc=f"cases.py:{self.id}", names=["out"])
        g.outputs = list(node.outputs)
        return g

    def random_feeds(self, graph: Graph, dims: dict[str, int], seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        out = {}
        for v in graph.inputs:
            shape = tuple(_size(d, dims) for d in v.type.shape)
            feed = self.feeds.get(v.name, _default_feed(v.type.dtype.value))
            out[v.name] = feed(rng, shape)
        return out


def _size(dim: Dim, dims: dict[str, int]) -> int:
    value = substitute(dim, dims)
    assert isinstance(value, int)
    return value


def _default_feed(dtype: str) -> Feed:
    if dtype == "bool":
        return lambda rng, shape: rng.random(shape) > 0.4
    if dtype == "i64":
        return ints(-5, 5)
    return lambda rng, shape: rng.standard_normal(shape).astype(np.float32)


X = ("x", "f32", ("N", 3, 4))
B = ("b", "f32", (3, 4))
XI, BI = ("x", "i64", ("N", 3, 4)), ("b", "i64", (3, 4))
XB, BB = ("x", "bool", ("N", 3, 4)), ("b", "bool", (3, 4))
IMG = ("x", "f32", ("N", 4, 9, 8))
IMG_NHWC = ("x", "f32", ("N", 9, 8, 4))
HW = ("x", "f32", ("N", 4, "H", "W"))
OPSETS = (17, 18, 19, 21, 22, 23)
POOL = {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}


def unary_cases() -> list[Case]:
    cases = [Case(op, op, [X]) for op in ("relu", "sigmoid", "tanh", "exp", "erf", "silu")]
    cases += [Case(op, op, [X], feeds={"x": positive}) for op in ("log", "sqrt", "reciprocal")]
    cases += [Case(f"{op}-i64", op, [XI]) for op in ("neg", "abs", "identity")]
    cases += [Case(op, op, [X]) for op in ("neg", "abs", "identity")]
    cases += [
        Case("not", "not", [XB]),
        Case("gelu", "gelu", [X], opsets=(17, 20, 23)),
        Case("gelu-tanh", "gelu", [X], {"approximate": "tanh"}, opsets=(17, 20, 23)),
        Case("clip", "clip", [X], {"min": -0.5, "max": 0.7}),
        Case("clip-relu", "clip", [X], {"min": 0.0}),
        Case("clip-max", "clip", [X], {"max": 0.25}),
        Case("cast-f32-i64", "cast", [X], {"to": "i64"}),
        Case("cast-i64-f32", "cast", [XI], {"to": "f32"}),
        Case("cast-f32-bool", "cast", [X], {"to": "bool"}),
        Case("cast-bool-f32", "cast", [XB], {"to": "f32"}),
    ]
    return cases


def binary_cases() -> list[Case]:
    cases = [Case(op, op, [X, B]) for op in ("add", "sub", "mul", "div", "maximum", "minimum")]
    cases += [Case(f"{op}-i64", op, [XI, BI]) for op in ("add", "sub", "mul", "equal")]
    cases += [Case(op, op, [X, B]) for op in ("less", "less_equal", "greater", "greater_equal")]
    cases += [Case(op, op, [XB, BB]) for op in ("and", "or", "equal")]
    cases += [
        Case("pow", "pow", [X, B], feeds={"x": positive}),
        Case("div-i64-truncates", "div", [XI, BI], feeds={"b": nonzero_ints}),
        Case("where", "where", [("c", "bool", ("N", 3, 4)), X, ("b", "f32", (4,))]),
        Case("matmul", "matmul", [X, ("w", "f32", (4, 5))]),
        Case("matmul-1d", "matmul", [("v", "f32", (3,)), X]),
        Case("matmul-batched", "matmul", [X, ("w", "f32", ("N", 4, 2))]),
    ]
    return cases


def nn_cases() -> list[Case]:
    conv = {"groups": 2, "strides": (2, 1), "pads": (1, 0, 2, 1), "dilations": (1, 2)}
    cases = [
        Case("conv2d", "conv2d", [IMG, ("w", "f32", (6, 2, 3, 3)), ("bias", "f32", (6,))], conv),
        Case("conv2d-nobias", "conv2d", [IMG, ("w", "f32", (5, 4, 1, 3))]),
        Case(
            "conv2d-nhwc",
            "conv2d",
            [IMG_NHWC, ("w", "f32", (6, 3, 3, 2)), ("bias", "f32", (6,))],
            {**conv, "layout": "NHWC"},
        ),
        Case("conv2d-symbolic-hw", "conv2d", [HW, ("w", "f32", (6, 2, 3, 3))], conv),
        Case("max_pool2d-symbolic-ceil", "max_pool2d", [HW], {**POOL, "ceil_mode": True}),
        Case("max_pool2d-dilated", "max_pool2d", [IMG], {"kernel": (2, 2), "dilations": (2, 2)}),
        Case("max_pool2d-nhwc", "max_pool2d", [IMG_NHWC], {**POOL, "layout": "NHWC"}),
        Case(
            "avg_pool2d-dilated",
            "avg_pool2d",
            [IMG],
            {**POOL, "dilations": (2, 1)},
            opsets=(19, 23),
        ),
        Case("global_avg_pool2d", "global_avg_pool2d", [IMG]),
        Case("global_max_pool2d", "global_max_pool2d", [IMG]),
        Case("global_avg_pool2d-nhwc", "global_avg_pool2d", [IMG_NHWC], {"layout": "NHWC"}),
        Case("softmax", "softmax", [X], {"axis": 1}),
        Case("layer_norm", "layer_norm", [X, ("g", "f32", (4,)), ("beta", "f32", (4,))]),
        Case("layer_norm-noscale", "layer_norm", [X], {"axis": 1, "epsilon": 1e-3}),
        Case("layer_norm-scale", "layer_norm", [X, ("g", "f32", (3, 4))], {"axis": -2}),
    ]
    # 9x8 input: no overhang; 5x5, kernel 2: the last ceil window would start in the end
    # padding (dropped); 6x6, kernel 3: the last window overhangs the end padding.
    shapes = {"9x8": IMG, "5x5": ("x", "f32", ("N", 2, 5, 5)), "6x6": ("x", "f32", ("N", 2, 6, 6))}
    kernels = {"9x8": (3, 3), "5x5": (2, 2), "6x6": (3, 3)}
    for size, x in shapes.items():
        window = {**POOL, "kernel": kernels[size]}
        for ceil in (False, True):
            attrs: dict[str, Any] = {**window, "ceil_mode": ceil}
            cases.append(
                Case(f"max_pool2d-{size}-ceil{ceil:d}", "max_pool2d", [x], attrs, opsets=OPSETS)
            )
            for include in (False, True):
                attrs = {**window, "ceil_mode": ceil, "count_include_pad": include}
                name = f"avg_pool2d-{size}-ceil{ceil:d}-pad{include:d}"
                cases.append(Case(name, "avg_pool2d", [x], attrs, opsets=OPSETS))
    params = [(n, "f32", (4,)) for n in ("scale", "shift", "mean")]
    var = ("var", "f32", (4,))
    for x, layout in ((IMG, "NCHW"), (("x", "f32", ("N", 4, 7)), "NCHW"), (IMG_NHWC, "NHWC")):
        feeds = {"var": positive}
        attrs = {"layout": layout, "epsilon": 1e-3}
        name = f"batch_norm-{layout}-rank{len(x[2])}"
        cases.append(Case(name, "batch_norm", [x, *params, var], attrs, feeds=feeds))
    return cases


def reduction_cases() -> list[Case]:
    cases = []
    for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min"):
        for axes in (None, (), (1,), (-1, 0)):
            for keep in (False, True):
                attrs = {"keepdims": keep} if axes is None else {"axes": axes, "keepdims": keep}
                name = f"{op}-{'all' if axes is None else list(axes)}-keep{keep:d}"
                cases.append(Case(name, op, [X], attrs, opsets=(17, 18, 23)))
    cases.append(Case("reduce_sum-i64", "reduce_sum", [XI], {"axes": (1,)}))
    cases += [Case(f"argmax-keep{k:d}", "argmax", [X], {"axis": 1, "keepdims": k}) for k in (0, 1)]
    return cases


def shape_cases() -> list[Case]:
    seq = ("x", "f32", ("N", "S", 6))
    table = ("t", "f32", (10, 4))
    return [
        Case("reshape-one-symbol", "reshape", [X], {"shape": ("N", 12)}),
        Case("reshape-compound", "reshape", [X], {"shape": ("3*N", 4)}),
        Case("reshape-copies", "reshape", [seq], {"shape": ("N", "S", 2, 3)}),
        Case("reshape-hole", "reshape", [seq], {"shape": ("N", -1, 3)}),
        Case("reshape-runtime", "reshape", [seq], {"shape": ("S", "N", 6)}),
        Case("reshape-static", "reshape", [("x", "f32", (2, 3, 4))], {"shape": (4, -1)}),
        Case("transpose", "transpose", [X], {"perm": (2, 0, 1)}),
        Case("flatten", "flatten", [X], {"axis": 2}),
        Case("flatten-0", "flatten", [X], {"axis": 0}),
        Case("squeeze", "squeeze", [("x", "f32", ("N", 1, 4, 1))], {"axes": (1, -1)}),
        Case("unsqueeze", "unsqueeze", [X], {"axes": (0, 3)}),
        Case("concat", "concat", [("a", "f32", ("N", 2, 4)), X], {"axis": 1}),
        Case("split", "split", [("x", "f32", ("N", 4, 3))], {"axis": 1, "sizes": (1, 3)}),
        Case(
            "split-symbolic",
            "split",
            [("x", "f32", ("N", "2*S"))],
            {"axis": 1, "sizes": ("S", "S")},
        ),
        Case(
            "slice-steps",
            "slice",
            [X],
            {"starts": (1,), "ends": (TO_THE_END,), "axes": (2,), "steps": (2,)},
        ),
        Case("slice-negative", "slice", [X], {"starts": (-2, 0), "ends": (-1, 3), "axes": (1, 2)}),
        Case("slice-symbolic", "slice", [seq], {"starts": (1,), "ends": ("S-1",), "axes": (1,)}),
        Case(
            "slice-table",
            "slice",
            [table],
            {"starts": (0,), "ends": ("S",), "axes": (0,)},
            carriers=[seq],
        ),
        Case("expand", "expand", [("y", "f32", (3, 1))], {"shape": ("N", 3, 4)}, carriers=[X]),
        Case("expand-same", "expand", [("x", "f32", ("N", 1, 4))], {"shape": ("N", 3, 4)}),
        Case("pad-constant", "pad", [X], {"pads": (0, 1, 2, 0, 2, 1), "value": 1.5}),
        Case("pad-reflect", "pad", [X], {"pads": (0, 1, 2, 0, 1, 1), "mode": "reflect"}),
        Case("pad-edge", "pad", [X], {"pads": (1, 0, 2, 0, 2, 1), "mode": "edge"}),
        Case("gather", "gather", [table, ("i", "i64", ("N", 3))], feeds={"i": ints(-10, 10)}),
        Case("gather-axis1", "gather", [X, ("i", "i64", (5,))], {"axis": 2}, {"i": ints(-4, 4)}),
        Case("shape", "shape", [X]),
        Case("range", "range", [], {"limit": "S"}, carriers=[seq]),
        Case(
            "range-compound",
            "range",
            [],
            {"start": 2, "limit": "2*S+3", "delta": 3},
            carriers=[seq],
        ),
        Case("range-static", "range", [], {"start": 5, "limit": 1, "delta": -2}),
    ]


def fused_cases() -> list[Case]:
    lin = [("x", "f32", ("N", 5)), ("w", "f32", (5, 3)), ("bias", "f32", (3,))]
    conv = [IMG, ("w", "f32", (6, 4, 3, 3)), ("bias", "f32", (6,))]
    return [
        Case("linear", "linear", lin, {"activation": "gelu_tanh"}, opsets=(17, 23)),
        Case("linear-nobias", "linear", lin[:2], {"activation": "silu"}),
        Case("fused_conv2d", "fused_conv2d", conv, {"activation": "relu6", "pads": (1, 1, 1, 1)}),
    ]


CASES = unary_cases() + binary_cases() + nn_cases() + reduction_cases() + shape_cases()
CASES += fused_cases()
RUNS = [
    pytest.param(case, opset, id=f"{case.id}@{opset}") for case in CASES for opset in case.opsets
]


def run_ort(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


@pytest.mark.parametrize(("case", "opset"), RUNS)
def test_op_matches_reference_in_onnxruntime(case: Case, opset: int) -> None:
    graph = case.graph()
    model = export_onnx(graph, opset=opset)
    for seed, dims in enumerate(SIZES):
        feeds = case.random_feeds(graph, dims, seed)
        want = run_reference(graph, feeds)
        got = run_ort(model, feeds)
        assert list(got) == list(want)
        for name, array in want.items():
            assert got[name].dtype == array.dtype, name
            assert got[name].shape == array.shape, name
            np.testing.assert_allclose(got[name], array, rtol=RTOL, atol=ATOL, equal_nan=True)


def test_every_op_has_a_lowering_and_a_case() -> None:
    lowered = set(LOWERINGS) | set(ALWAYS_EXPANDED)
    assert set(OPS) <= lowered, f"ops without an ONNX lowering: {sorted(set(OPS) - lowered)}"
    tested = {case.op for case in CASES} | {"attention"}  # attention: test_onnx_export_attention
    assert set(OPS) <= tested, f"ops without an export case: {sorted(set(OPS) - tested)}"


def test_dilated_average_pooling_is_refused_below_opset_19() -> None:
    case = Case("avg", "avg_pool2d", [IMG], {**POOL, "dilations": (2, 1)})
    with pytest.raises(ConfigError, match="opset 19") as info:
        export_onnx(case.graph(), opset=18)
    assert info.value.loc == "cases.py:avg"


def test_gelu_below_opset_20_is_its_erf_form() -> None:
    graph = Case("gelu", "gelu", [X]).graph()
    old = [n.op_type for n in export_onnx(graph, opset=19).graph.node]
    new = [n.op_type for n in export_onnx(graph, opset=20).graph.node]
    assert "Erf" in old and "Gelu" not in old
    assert new == ["Gelu"]


def test_reduce_axes_are_an_attribute_before_opset_18_and_an_input_from_it() -> None:
    graph = Case("r", "reduce_mean", [X], {"axes": (1,)}).graph()
    (old,) = export_onnx(graph, opset=17).graph.node
    (new,) = export_onnx(graph, opset=18).graph.node
    assert [a.name for a in old.attribute] == ["axes", "keepdims"] and len(old.input) == 1
    assert len(new.input) == 2


def test_empty_axes_reduce_nothing_explicitly() -> None:
    graph = Case("r", "reduce_sum", [X], {"axes": ()}).graph()
    assert [n.op_type for n in export_onnx(graph).graph.node] == ["Identity"]
