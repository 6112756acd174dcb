"""The DSL records the right ops and they compute the right values.

Each test traces a small model, checks the ops it recorded, runs the graph in
the NumPy reference interpreter and compares with the same computation
written directly in NumPy on the same inputs (float32: rtol 1e-5, atol 1e-5;
shape-only ops and integer results must match exactly).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec
from nanograph.frontend.tensor import Tensor
from nanograph.ir.dims import SymExpr
from nanograph.ir.errors import DTypeError
from nanograph.ir.graph import Graph
from nanograph.ir.types import DType

RTOL = ATOL = 1e-5
FILE = Path(__file__).name
_SOURCE = Path(__file__).read_text().splitlines()
RNG = np.random.default_rng(0)


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# <marker>`` (exactly one)."""
    tag = f"# <{marker}>"
    hits = [i for i, text in enumerate(_SOURCE, start=1) if text.rstrip().endswith(tag)]
    assert len(hits) == 1, f"marker {tag} found on lines {hits}"
    return hits[0]


def spec(name: str, *shape: object, dtype: str = "f32") -> InputSpec:
    value_range = (0, 10) if dtype in ("i64", "i32") else None
    return InputSpec(name, shape, dtype, value_range=value_range)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def run(model: Callable[..., Any], specs: list[InputSpec], **feeds: np.ndarray) -> Any:
    """Trace ``model`` and run it on ``feeds``: (graph, list of outputs in order)."""
    graph = ng.trace(model, *specs)
    out = run_reference(graph, feeds)
    return graph, [out[v.name] for v in graph.outputs]


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == np.shape(expected)
    assert actual.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# arithmetic -------------------------------------------------------------------------------
BINARY = [
    (operator.add, "add"),
    (operator.sub, "sub"),
    (operator.mul, "mul"),
    (operator.truediv, "div"),
]
OTHER = {
    "tensor": lambda y: y,
    "int": lambda y: 3,
    "float": lambda y: 0.5,
    "array": lambda y: np.linspace(1.0, 2.0, 4, dtype=np.float32),
    "np-scalar": lambda y: np.int64(2),
}


@pytest.mark.parametrize(("fn", "op"), BINARY, ids=[op for _, op in BINARY])
@pytest.mark.parametrize("kind", list(OTHER))
@pytest.mark.parametrize("tensor_left", [True, False], ids=["tensor-left", "tensor-right"])
def test_binary_operators_mix_tensors_scalars_and_arrays(
    fn: Callable[[Any, Any], Any], op: str, kind: str, tensor_left: bool
) -> None:
    x, y = randn(2, 4) + 3.0, randn(2, 4) + 3.0  # away from 0: division is well conditioned

    def model(tx: Tensor, ty: Tensor) -> Tensor:
        other = OTHER[kind](ty)
        return fn(tx, other) if tensor_left else fn(other, tx)

    graph, (out,) = run(model, [spec("x", "N", 4), spec("y", "N", 4)], x=x, y=y)
    assert ops(graph) == [op]
    other = OTHER[kind](y)
    expected = fn(x, other) if tensor_left else fn(other, x)
    close(out, np.asarray(expected, dtype=np.float32))


def test_scalars_take_the_dtype_of_the_tensor_they_meet() -> None:
    ids = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)

    def model(t: Tensor) -> Any:
        return t * 2 + 1, 10 - t, t.float() / 2

    graph, (a, b, c) = run(model, [spec("ids", "N", 3, dtype="i64")], ids=ids)
    scalars = [v for v in graph.constants.values() if v.type.rank == 0]
    assert {str(v.type) for v in scalars} == {"i64[]", "f32[]"}
    np.testing.assert_array_equal(a, ids * 2 + 1)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(b, 10 - ids)
    close(c, ids.astype(np.float32) / 2)


def test_a_float_scalar_never_silently_truncates_to_int() -> None:
    with pytest.raises(DTypeError, match=r"float scalar 0\.5.*i64") as info:
        ng.trace(lambda t: t * 0.5, spec("ids", "N", dtype="i64"))  # <float-scalar>
    assert f"{FILE}:{line_of('float-scalar')}" in str(info.value)


@pytest.mark.parametrize(
    ("left", "right", "a_shape", "b_shape"),
    [
        ("tensor", "tensor", ("N", 3, 4), (4, 5)),
        ("tensor", "array", ("N", 3, 4), (4, 5)),
        ("array", "tensor", (3, 4), ("N", 4, 5)),
        ("tensor", "tensor", ("N", 2, 3, 4), ("N", 2, 4, 5)),
        ("tensor", "tensor", (4,), (4, 5)),
        ("tensor", "tensor", ("N", 4), (4,)),
    ],
)
def test_matmul_follows_numpy(
    left: str, right: str, a_shape: tuple[Any, ...], b_shape: tuple[Any, ...]
) -> None:
    concrete = [[2 if d == "N" else d for d in s] for s in (a_shape, b_shape)]
    a, b = randn(*concrete[0]), randn(*concrete[1])
    specs, feeds = [], {}
    if left == "tensor":
        specs.append(spec("a", *a_shape))
        feeds["a"] = a
    if right == "tensor":
        specs.append(spec("b", *b_shape))
        feeds["b"] = b

    def model(*ts: Tensor) -> Tensor:
        it = iter(ts)
        lhs = next(it) if left == "tensor" else a
        rhs = next(it) if right == "tensor" else b
        return lhs @ rhs

    graph, (out,) = run(model, specs, **feeds)
    assert ops(graph) == ["matmul"]
    close(out, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))


def test_unary_methods_and_functions() -> None:
    x = randn(3, 4)

    def model(t: Tensor) -> Any:
        return (
            -t,
            t.abs(),
            t.relu(),
            t.abs().sqrt(),
            t.exp(),
            F.sigmoid(t),
            F.tanh(t),
            F.silu(t),
            t**2.0,
            F.clamp(t, -0.5, 0.5),
            F.maximum(t, 0.25),
        )

    graph, outs = run(model, [spec("x", 3, 4)], x=x)
    sig = 1 / (1 + np.exp(-x))
    expected = [
        -x,
        np.abs(x),
        np.maximum(x, 0),
        np.sqrt(np.abs(x)),
        np.exp(x),
        sig,
        np.tanh(x),
        x * sig,
        x**2,
        np.clip(x, -0.5, 0.5),
        np.maximum(x, 0.25),
    ]
    for out, want in zip(outs, expected, strict=True):
        close(out, want.astype(np.float32))
    assert ops(graph)[:3] == ["neg", "abs", "relu"]


# comparisons and logic ------------------------------------------------------------------------
def test_comparisons_give_bool_tensors() -> None:
    x, y = randn(2, 5), randn(2, 5)

    def model(a: Tensor, b: Tensor) -> Any:
        return a < b, a <= 0.0, a > b, a >= 0, a.eq(b), (a < b) & (a > 0), (a < b) | ~(a > 0)

    graph, outs = run(model, [spec("a", "N", 5), spec("b", "N", 5)], a=x, b=y)
    assert ops(graph)[:5] == ["less", "less_equal", "greater", "greater_equal", "equal"]
    expected = [x < y, x <= 0, x > y, x >= 0, x == y, (x < y) & (x > 0), (x < y) | ~(x > 0)]
    for out, want in zip(outs, expected, strict=True):
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out, want)


def test_where_selects_with_a_bool_condition() -> None:
    x = randn(3, 4)
    graph, (out,) = run(lambda t: F.where(t > 0, t, t * 0.1), [spec("x", 3, 4)], x=x)
    assert "where" in ops(graph)
    close(out, np.where(x > 0, x, x * np.float32(0.1)))


# indexing -------------------------------------------------------------------------------------
INDEXES: list[tuple[str, Callable[[Any], Any]]] = [
    ("int", lambda t: t[1]),
    ("negative-int", lambda t: t[:, -1]),
    ("slice", lambda t: t[:, 1:3]),
    ("step", lambda t: t[:, ::2, 1:]),
    ("negative-bounds", lambda t: t[:, -3:-1]),
    ("none", lambda t: t[None, :, None]),
    ("ellipsis", lambda t: t[..., 0]),
    ("ellipsis-none", lambda t: t[0, ..., None]),
    ("mixed", lambda t: t[1, None, 2:, ::3]),
    ("full", lambda t: t[:]),
]


@pytest.mark.parametrize(("name", "index"), INDEXES, ids=[n for n, _ in INDEXES])
def test_indexing_matches_numpy(name: str, index: Callable[[Any], Any]) -> None:
    x = randn(3, 4, 5)
    graph, (out,) = run(index, [spec("x", 3, 4, 5)], x=x)
    assert set(ops(graph)) <= {"slice", "squeeze", "unsqueeze", "identity"}
    np.testing.assert_array_equal(out, index(x))


def test_slice_bound_may_be_a_symbolic_dim() -> None:
    def model(x: Tensor, y: Tensor) -> Tensor:
        return x[:, : y.shape[1]]

    graph = ng.trace(model, spec("x", "N", 8), spec("y", "N", "S"))
    assert str(graph.outputs[0].type) == "f32[N,S]"
    for s in (2, 5):
        x, y = randn(2, 8), randn(2, s)
        (out,) = run_reference(graph, {"x": x, "y": y}).values()
        np.testing.assert_array_equal(out, x[:, :s])


# shapes ---------------------------------------------------------------------------------------
def test_reshape_and_view_with_symbolic_dims_and_minus_one() -> None:
    def model(x: Tensor) -> Any:
        n = x.shape[0]
        return x.reshape(n, -1), x.view(n, 2, -1), x.reshape((-1, 4)), x.reshape(n * 6, 2)

    graph = ng.trace(model, spec("x", "N", 3, 4))
    types = [str(v.type) for v in graph.outputs]
    assert types == ["f32[N,12]", "f32[N,2,6]", "f32[3*N,4]", "f32[6*N,2]"]
    assert ops(graph) == ["reshape"] * 4
    for n in (1, 3):
        x = randn(n, 3, 4)
        outs = list(run_reference(graph, {"x": x}).values())
        wants = [x.reshape(n, -1), x.reshape(n, 2, -1), x.reshape(-1, 4), x.reshape(n * 6, 2)]
        for out, want in zip(outs, wants, strict=True):
            np.testing.assert_array_equal(out, want)


def test_transpose_permute_and_mT() -> None:
    x = randn(2, 3, 4)

    def model(t: Tensor) -> Any:
        return (
            t.transpose(0, 2),
            t.transpose(-1, -2),
            t.permute(2, 0, 1),
            t.permute([1, 0, 2]),
            t.mT,
        )

    graph, outs = run(model, [spec("x", 2, 3, 4)], x=x)
    assert ops(graph) == ["transpose"] * 5
    wants = [
        x.transpose(2, 1, 0),
        x.transpose(0, 2, 1),
        x.transpose(2, 0, 1),
        x.transpose(1, 0, 2),
        x.transpose(0, 2, 1),
    ]
    for out, want in zip(outs, wants, strict=True):
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(("start", "end"), [(0, -1), (1, -1), (1, 2), (2, 3), (0, 1), (-2, -1)])
def test_flatten_start_end_like_torch(start: int, end: int) -> None:
    x = randn(2, 3, 4, 5)
    graph, (out,) = run(lambda t: t.flatten(start, end), [spec("x", "N", 3, 4, 5)], x=x)
    s, e = start % 4, end % 4
    want = x.reshape(*x.shape[:s], -1, *x.shape[e + 1 :])
    np.testing.assert_array_equal(out, want)
    assert graph.outputs[0].type.rank == 4 - (e - s)


def test_flatten_keeps_the_batch_symbol() -> None:
    graph = ng.trace(lambda t: t.flatten(1), spec("x", "N", 3, 4, 5))
    assert str(graph.outputs[0].type) == "f32[N,60]"
    graph = ng.trace(lambda t: t.flatten(), spec("x", "N", 3))
    assert str(graph.outputs[0].type) == "f32[3*N]"


def test_unsqueeze_and_squeeze() -> None:
    x = randn(3, 1, 4)

    def model(t: Tensor) -> Any:
        return t.unsqueeze(0), t.unsqueeze(-1), t.squeeze(1), F.squeeze(t.unsqueeze(0), (0, 2))

    graph, outs = run(model, [spec("x", 3, 1, 4)], x=x)
    wants = [x[None], x[..., None], x[:, 0], x[:, 0]]
    for out, want in zip(outs, wants, strict=True):
        np.testing.assert_array_equal(out, want)
    assert ops(graph)[:3] == ["unsqueeze", "unsqueeze", "squeeze"]


def test_cat_and_split() -> None:
    x, y = randn(2, 3, 4), randn(2, 5, 4)

    def model(a: Tensor, b: Tensor) -> Any:
        joined = F.cat([a, b], dim=1)
        p, q, r = F.split(joined, [2, 4, 2], dim=1)
        chunks = F.split(joined, 3, dim=1)
        return joined, p, q, r, *chunks

    graph, outs = run(model, [spec("a", "N", 3, 4), spec("b", "N", 5, 4)], a=x, b=y)
    joined = np.concatenate([x, y], axis=1)
    wants = [joined, joined[:, :2], joined[:, 2:6], joined[:, 6:]]
    wants += [joined[:, 0:3], joined[:, 3:6], joined[:, 6:8]]  # chunks of 3, the last smaller
    assert len(outs) == len(wants)
    for out, want in zip(outs, wants, strict=True):
        np.testing.assert_array_equal(out, want)
    assert ops(graph) == ["concat", "split", "split"]


def test_cat_with_symbolic_axis_adds_dims() -> None:
    graph = ng.trace(
        lambda a, b: F.cat([a, b], dim=1), spec("a", "N", "S", 4), spec("b", "N", 1, 4)
    )
    assert str(graph.outputs[0].type) == "f32[N,S+1,4]"


def test_expand() -> None:
    x = randn(3, 1)

    def model(t: Tensor) -> Any:
        return t.expand(3, 4), t.expand(2, 3, 4), t.expand((3, 1))

    graph, outs = run(model, [spec("x", 3, 1)], x=x)
    wants = [np.broadcast_to(x, (3, 4)), np.broadcast_to(x, (2, 3, 4)), x]
    for out, want in zip(outs, wants, strict=True):
        np.testing.assert_array_equal(out, want)
    assert set(ops(graph)) == {"expand"}


@pytest.mark.parametrize(
    ("pads", "mode", "np_width", "np_mode"),
    [
        ((1, 2), "constant", [(0, 0), (0, 0), (1, 2)], "constant"),
        ((1, 2, 3, 0), "constant", [(0, 0), (3, 0), (1, 2)], "constant"),
        ((0, 1, 1, 0, 2, 2), "constant", [(2, 2), (1, 0), (0, 1)], "constant"),
        ((2, 1, 1, 2), "reflect", [(0, 0), (1, 2), (2, 1)], "reflect"),
        ((1, 1, 2, 0), "replicate", [(0, 0), (2, 0), (1, 1)], "edge"),
    ],
)
def test_pad_uses_torch_order_last_dim_first(
    pads: tuple[int, ...], mode: str, np_width: list[tuple[int, int]], np_mode: str
) -> None:
    x = randn(2, 3, 4)
    graph, (out,) = run(lambda t: F.pad(t, pads, mode=mode), [spec("x", 2, 3, 4)], x=x)
    assert ops(graph) == ["pad"]
    np.testing.assert_array_equal(out, np.pad(x, np_width, mode=np_mode))


def test_pad_constant_value() -> None:
    x = randn(2, 3)
    _, (out,) = run(lambda t: F.pad(t, (1, 1), value=-7.0), [spec("x", 2, 3)], x=x)
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (1, 1)], constant_values=-7.0))


# reductions and casts -------------------------------------------------------------------------
REDUCTIONS = [
    ("sum", np.sum, "reduce_sum"),
    ("mean", np.mean, "reduce_mean"),
    ("amax", np.max, "reduce_max"),
]


@pytest.mark.parametrize(("method", "np_fn", "op"), REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize(
    ("dim", "keepdim"), [(None, False), (1, False), (-1, True), ((0, 2), False), ((1, 2), True)]
)
def test_reductions_with_dim_and_keepdim(
    method: str, np_fn: Callable[..., Any], op: str, dim: Any, keepdim: bool
) -> None:
    x = randn(2, 3, 4)
    graph, (out,) = run(
        lambda t: getattr(t, method)(dim=dim, keepdim=keepdim), [spec("x", 2, 3, 4)], x=x
    )
    assert ops(graph) == [op]
    want = np_fn(x.astype(np.float64), axis=dim, keepdims=keepdim).astype(np.float32)
    close(out, want)


def test_argmax_gives_i64() -> None:
    x = randn(2, 5)
    _, (out,) = run(lambda t: t.argmax(-1), [spec("x", "N", 5)], x=x)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, x.argmax(-1))


def test_cast() -> None:
    x = (randn(2, 3) * 4).astype(np.float32)

    def model(t: Tensor) -> Any:
        ids = t.to("i64")
        return ids, ids.float(), F.cast(t, DType.i32), (t > 0).to("f32")

    graph, (a, b, c, d) = run(model, [spec("x", 2, 3)], x=x)
    assert ops(graph)[:2] == ["cast", "cast"]
    np.testing.assert_array_equal(a, x.astype(np.int64))  # truncation toward zero
    assert a.dtype == np.int64 and c.dtype == np.int32 and b.dtype == np.float32
    np.testing.assert_array_equal(b, x.astype(np.int64).astype(np.float32))
    np.testing.assert_array_equal(d, (x > 0).astype(np.float32))


def test_softmax_and_layer_norm_functional() -> None:
    x = randn(2, 3, 8)
    w, b = randn(8), randn(8)

    def model(t: Tensor) -> Any:
        return t.softmax(-1), F.softmax(t, dim=1), F.layer_norm(t, 8, w, b, eps=1e-5)

    graph, (s1, s2, ln) = run(model, [spec("x", "N", 3, 8)], x=x)
    x64 = x.astype(np.float64)

    def softmax(a: np.ndarray, axis: int) -> np.ndarray:
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    close(s1, softmax(x64, -1).astype(np.float32))
    close(s2, softmax(x64, 1).astype(np.float32))
    mu, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
    close(ln, ((x64 - mu) / np.sqrt(var + 1e-5) * w + b).astype(np.float32))
    assert ops(graph) == ["softmax", "softmax", "layer_norm"]


def test_arange_with_a_symbolic_end() -> None:
    graph = ng.trace(lambda x: F.arange(x.shape[1]), spec("x", "N", "S"))
    assert str(graph.outputs[0].type) == "i64[S]"
    (out,) = run_reference(graph, {"x": randn(1, 6)}).values()
    np.testing.assert_array_equal(out, np.arange(6))


def test_tensor_properties() -> None:
    seen: dict[str, Any] = {}

    def model(x: Tensor) -> Tensor:
        seen.update(shape=x.shape, ndim=x.ndim, numel=x.numel, size1=x.size(1), dtype=x.dtype)
        seen["repr"] = repr(x)
        return x

    ng.trace(model, spec("x", "N", 3, 4))
    assert isinstance(seen["shape"][0], SymExpr) and seen["shape"][1:] == (3, 4)
    assert seen["ndim"] == 3 and seen["size1"] == 3 and seen["dtype"] == DType.f32
    assert str(seen["numel"]) == "12*N"
    assert seen["repr"] == "Tensor(%x: f32[N,3,4])"


# names, locations, outputs --------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d, 2 * d)
        self.linear2 = nn.Linear(2 * d, d)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.linear1(x))  # <block-relu>
        return x + self.linear2(h)  # <block-residual>


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Block(4), Block(4)])
        self.head = nn.Sequential(nn.Linear(4, 3), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)  # <stack-layer>
        return self.head(x)  # <stack-head>


def test_node_names_follow_module_paths() -> None:
    graph = ng.trace(Stack(), spec("x", "N", 4))
    names = {v.name for n in graph.nodes for v in n.outputs}
    # A module's output is named after its path; its other nodes are "<path>.<op>".
    for expected in (
        "layers.0.linear1",
        "layers.0.linear1.matmul",
        "layers.0.relu",
        "layers.0.linear2",
        "layers.0",
        "layers.1.linear1",
        "layers.1",
        "head.0",
        "head.1",
    ):
        assert expected in names, sorted(names)
    producers = {v.name: n for n in graph.nodes for v in n.outputs}
    assert producers["layers.0.linear1"].op == "add"
    assert producers["layers.0"].op == "add"  # the residual, made by the block itself
    assert producers["head.1"].op == "relu"
    constants = set(graph.constants)
    assert {"layers.0.linear1.weight", "layers.1.linear2.bias", "head.0.weight"} <= constants


def test_locations_point_at_the_users_lines() -> None:
    graph = ng.trace(Stack(), spec("x", "N", 4))
    producers = {v.name: n for n in graph.nodes for v in n.outputs}
    assert producers["layers.0.relu"].loc == f"{FILE}:{line_of('block-relu')}"
    assert producers["layers.1.relu"].loc == f"{FILE}:{line_of('block-relu')}"
    assert producers["layers.0"].loc == f"{FILE}:{line_of('block-residual')}"
    # Inside nanograph's own modules (Linear), the location is the user's call.
    assert producers["layers.0.linear1.matmul"].loc == f"{FILE}:{line_of('block-relu')}"
    assert producers["layers.0.linear2"].loc == f"{FILE}:{line_of('block-residual')}"
    # Sequential is nanograph's code too: its children point at the call of head.
    assert producers["head.0"].loc == f"{FILE}:{line_of('stack-head')}"
    assert all(n.loc.startswith(f"{FILE}:") for n in graph.nodes)


def test_a_module_called_twice_gets_distinct_names() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x: Tensor) -> Tensor:
            return self.act(self.act(x) - 1.0)

    graph = ng.trace(Twice(), spec("x", 3))
    names = [n.output.name for n in graph.nodes if n.op == "relu"]
    assert names[0] == "act" and names[1] != "act" and names[1].startswith("act")


def test_symbolic_batch_runs_at_two_batch_sizes() -> None:
    model = Stack()
    graph = ng.trace(model, spec("x", "N", 4))
    assert str(graph.inputs[0].type) == "f32[N,4]"
    assert str(graph.outputs[0].type) == "f32[N,3]"
    state = model.state_dict()

    def numpy_stack(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)

        def lin(h: np.ndarray, name: str) -> np.ndarray:
            return h @ state[f"{name}.weight"].T.astype(np.float64) + state[f"{name}.bias"]

        for i in range(2):
            h = np.maximum(lin(x, f"layers.{i}.linear1"), 0)
            x = x + lin(h, f"layers.{i}.linear2")
        return np.maximum(lin(x, "head.0"), 0)

    for n in (1, 5):
        x = randn(n, 4)
        (out,) = run_reference(graph, {"x": x}).values()
        assert out.shape == (n, 3)
        close(out, numpy_stack(x).astype(np.float32))


def test_dict_outputs_are_named_by_their_keys() -> None:
    def model(x: Tensor) -> dict[str, Tensor]:
        h = x.relu()
        return {"logits": h * 2.0, "probs": h.softmax(-1), "hidden": h}

    graph = ng.trace(model, spec("x", "N", 4))
    assert [v.name for v in graph.outputs] == ["logits", "probs", "hidden"]
    x = randn(2, 4)
    out = run_reference(graph, {"x": x})
    assert list(out) == ["logits", "probs", "hidden"]
    close(out["hidden"], np.maximum(x, 0))


def test_tuple_outputs_keep_producer_names() -> None:
    graph = ng.trace(lambda x: (x.relu(), x.exp()), spec("x", 4))
    assert [v.name for v in graph.outputs] == ["relu", "exp"]


def test_returning_an_input_gets_its_own_identity_node() -> None:
    def model(x: Tensor, y: Tensor) -> Any:
        return {"same": x, "twice_a": y.relu(), "twice_b": y.relu()}

    graph = ng.trace(model, spec("x", "N", 2), spec("y", 3))
    producers = [v.producer for v in graph.outputs]
    assert producers[0] is not None and producers[0].op == "identity"
    assert producers[0].inputs[0] is graph.inputs[0]
    assert graph.outputs[0] is not graph.inputs[0]
    assert [v.name for v in graph.outputs] == ["same", "twice_a", "twice_b"]
    x = randn(2, 2)
    out = run_reference(graph, {"x": x, "y": randn(3)})
    np.testing.assert_array_equal(out["same"], x)
    assert out["same"] is not x


def test_returning_one_value_twice_gives_two_outputs() -> None:
    def model(x: Tensor) -> Any:
        h = x.relu()
        return h, h

    graph = ng.trace(model, spec("x", 3))
    a, b = graph.outputs
    assert a is not b and a.name != b.name
    x = randn(3)
    outs = list(run_reference(graph, {"x": x}).values())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_returning_a_parameter_becomes_an_output() -> None:
    class Const(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = nn.Parameter(np.arange(6, dtype=np.float32).reshape(2, 3))

        def forward(self, x: Tensor) -> Any:
            return x, F.as_tensor(self.table)

    graph = ng.trace(Const(), spec("x", 2))
    out = run_reference(graph, {"x": randn(2)})
    assert len(out) == 2
    np.testing.assert_array_equal(list(out.values())[1], np.arange(6).reshape(2, 3))


def test_graph_name_comes_from_the_model() -> None:
    assert ng.trace(Stack(), spec("x", "N", 4)).name == "stack"
    assert ng.trace(lambda x: x.relu(), spec("x", 2), name="tiny").name == "tiny"


def test_parameters_become_named_constants_once() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(self.fc(x))

    graph = ng.trace(Shared(), spec("x", "N", 3))
    assert sorted(graph.constants) == ["fc.bias", "fc.weight"]
    assert graph.constants["fc.weight"].type.shape == (3, 3)


def test_equality_operators_record_nodes_like_torch() -> None:
    ids = np.array([[0, 3, 0], [2, 0, 1]], np.int64)

    def model(t: Tensor) -> Any:
        return t == 0, t != 0, F.where(t == 0, t.float() * 0.0 - 1.0, t.float())

    graph, (eq, ne, filled) = run(model, [spec("ids", "N", 3, dtype="i64")], ids=ids)
    assert ops(graph)[:3] == ["equal", "equal", "not"]
    np.testing.assert_array_equal(eq, ids == 0)
    np.testing.assert_array_equal(ne, ids != 0)
    np.testing.assert_array_equal(filled, np.where(ids == 0, -1.0, ids).astype(np.float32))


def test_tensors_stay_hashable_and_comparable_to_none() -> None:
    def model(x: Tensor) -> Tensor:
        seen = {x: "input"}
        assert seen[x] == "input"
        assert (x == None) is False  # noqa: E711  (identity, as in PyTorch)
        assert x is not None
        return x.relu()

    ng.trace(model, spec("x", 2))


def test_reflected_power_and_unpacking() -> None:
    x = randn(2, 3)

    def model(t: Tensor) -> Any:
        first, second = t  # iterates over a static first axis, like torch
        return 2.0**t, first, second

    graph, (p, a, b) = run(model, [spec("x", 2, 3)], x=x)
    close(p, (2.0 ** x.astype(np.float64)).astype(np.float32))
    np.testing.assert_array_equal(a, x[0])
    np.testing.assert_array_equal(b, x[1])
    assert "pow" in ops(graph)


def test_squeeze_without_dim_drops_static_ones() -> None:
    x = randn(1, 3, 1)
    graph, (out,) = run(lambda t: t.squeeze(), [spec("x", 1, 3, 1)], x=x)
    np.testing.assert_array_equal(out, x.squeeze())
    graph = ng.trace(lambda t: t.squeeze(), spec("x", "N", 1))
    assert str(graph.outputs[0].type) == "f32[N]"  # a symbolic dim is never assumed to be 1


def test_an_output_key_wins_over_an_intermediate_of_the_same_name() -> None:
    def model(x: Tensor) -> dict[str, Tensor]:
        h = x.relu()  # recorded as %relu
        return {"relu": h.exp(), "hidden": h}

    graph = ng.trace(model, spec("x", 3))
    assert [v.name for v in graph.outputs] == ["relu", "hidden"]
    assert [n.op for n in graph.nodes] == ["relu", "exp"]
    x = randn(3)
    out = run_reference(graph, {"x": x})
    close(out["relu"], np.exp(np.maximum(x, 0)))


def test_an_output_key_naming_an_input_is_refused() -> None:
    with pytest.raises(ng.frontend.TraceError, match="output name 'x'") as info:
        ng.trace(lambda x: {"x": x.relu()}, spec("x", 3))  # <output-key>
    assert f"{FILE}:{line_of('output-key')}" in str(info.value)


def test_identity_for_a_returned_input_points_at_the_return() -> None:
    def model(x: Tensor) -> Any:
        return x, x.relu()  # <return-input>

    graph = ng.trace(model, spec("x", 3))
    assert graph.outputs[0].producer is not None
    assert graph.outputs[0].producer.loc == f"{FILE}:{line_of('return-input')}"


@pytest.mark.parametrize(
    ("class_name", "graph_name"),
    [("TinyCNN", "tiny_cnn"), ("SAGANBlock", "sagan_block"), ("LeNet5", "le_net5"), ("mlp", "mlp")],
)
def test_graph_is_named_after_the_model_class_in_snake_case(
    class_name: str, graph_name: str
) -> None:
    model_class = type(class_name, (nn.Module,), {"forward": lambda self, x: x + 1.0})
    assert ng.trace(model_class(), ng.InputSpec("x", (2,))).name == graph_name
