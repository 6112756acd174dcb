"""Shape arithmetic folded at import, on graphs written the way PyTorch's exporters write
them (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ...), and on real torch exports
when torch is importable. Numbers are compared with onnxruntime (rtol 1e-5, atol 1e-6)
at several sizes of the symbolic dims."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import helper, numpy_helper

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import UnsupportedOpError

rng = np.random.default_rng(1)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def n(op: str, ins: list[str], out: str, **attrs: Any) -> Any:
    return helper.make_node(op, ins, [out], name=f"/{out}", **attrs)


def dim_of(x: str, axis: int, out: str) -> list[Any]:
    """``out`` = Unsqueeze(Gather(Shape(x), axis)): one dim of x as a 1-element i64 vector."""
    return [
        n("Shape", [x], f"{out}_shape"),
        n("Gather", [f"{out}_shape", f"c{axis}"], f"{out}_scalar", axis=0),
        n("Unsqueeze", [f"{out}_scalar", "c0v"], out),
    ]


CONSTS = {
    "c0": np.array(0, np.int64),
    "c1": np.array(1, np.int64),
    "c2": np.array(2, np.int64),
    "c0v": i64(0),
    "m1": i64(-1),
}


def printed(model: Any) -> str:
    return ng.print_graph(import_onnx(model))


def test_flatten_by_reshape_to_batch_and_minus_one(onnx_model: Any, onnx_compare: Any) -> None:
    nodes = [
        *dim_of("x", 0, "n"),
        n("Concat", ["n", "m1"], "shp", axis=0),
        n("Reshape", ["x", "shp"], "y"),
    ]
    model = onnx_model(nodes, [("x", "f32", ["N", 3, 4])], [("y", "f32", None)], CONSTS)
    text = printed(model)
    assert "reshape(%x) {shape=[N,-1]} : f32[N,12]  # /y" in text
    assert "= shape(" not in text and "gather" not in text and "concat" not in text
    for batch in (1, 3):
        onnx_compare(model, {"x": f32(batch, 3, 4)})


def test_head_split_with_symbolic_batch_and_sequence(onnx_model: Any, onnx_compare: Any) -> None:
    """view(b, s, heads, e // heads).transpose(1, 2) with e // heads computed by Div."""
    nodes = [
        *dim_of("x", 0, "b"),
        *dim_of("x", 1, "s"),
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "c2"], "e"),
        n("Div", ["e", "heads"], "d"),
        n("Unsqueeze", ["d", "c0v"], "dv"),
        n("Concat", ["b", "s", "headsv", "dv"], "shp", axis=0),
        n("Reshape", ["x", "shp"], "r"),
        n("Transpose", ["r"], "y", perm=[0, 2, 1, 3]),
    ]
    inits = {**CONSTS, "heads": np.array(2, np.int64), "headsv": i64(2)}
    model = onnx_model(nodes, [("x", "f32", ["B", "S", 8])], [("y", "f32", None)], inits)
    text = printed(model)
    assert "reshape(%x) {shape=[B,S,2,4]}" in text and "= shape(" not in text
    for b, s in ((1, 1), (2, 5)):
        onnx_compare(model, {"x": f32(b, s, 8)})


def test_scale_from_head_dim_folds_to_a_constant(onnx_model: Any, onnx_compare: Any) -> None:
    """scores / sqrt(q.size(-1)): Shape -> Gather -> Cast -> Sqrt -> Div on a static dim."""
    nodes = [
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "m1s"], "d"),
        n("Cast", ["d"], "df", to=1),
        n("Sqrt", ["df"], "sq"),
        n("Div", ["x", "sq"], "y"),
    ]
    inits = {"m1s": np.array(-1, np.int64)}
    model = onnx_model(nodes, [("x", "f32", ["N", 16])], [("y", "f32", None)], inits)
    text = printed(model)
    assert "@sq: f32[] = 4.0" in text and "%y = div(%x, @sq)" in text
    onnx_compare(model, {"x": f32(3, 16)})


def test_expand_through_constant_of_shape_equal_where(onnx_model: Any, onnx_compare: Any) -> None:
    """The classic exporter's expand: Where(Equal(shape, -1 * ones), ones, shape)."""
    nodes = [
        *dim_of("x", 0, "nb"),
        n("Concat", ["nb", "four"], "target", axis=0),
        n("Shape", ["target"], "tlen"),
        n("ConstantOfShape", ["tlen"], "ones", value=numpy_helper.from_array(i64(1))),
        n("Mul", ["ones", "m1"], "neg"),
        n("Equal", ["target", "neg"], "eq"),
        n("Where", ["eq", "ones", "target"], "shp"),
        n("Expand", ["bias", "shp"], "e"),
        n("Add", ["x", "e"], "y"),
    ]
    inits = {**CONSTS, "four": i64(4), "bias": f32(1, 4)}
    model = onnx_model(nodes, [("x", "f32", ["N", 4])], [("y", "f32", None)], inits)
    assert "expand(@bias) {shape=[N,4]}" in printed(model)
    onnx_compare(model, {"x": f32(3, 4)})


def test_positions_by_range_over_the_sequence_length(onnx_model: Any, onnx_compare: Any) -> None:
    """x + table[arange(S)] and x + table[:S]: a symbolic range and a symbolic slice."""
    nodes = [
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "c1"], "s"),
        n("Range", ["c0", "s", "c1"], "pos"),
        n("Gather", ["table", "pos"], "pe"),
        *dim_of("x", 1, "sv"),
        n("Slice", ["table", "c0v", "sv", "c0v"], "pe2"),
        n("Add", ["x", "pe"], "t"),
        n("Add", ["t", "pe2"], "y"),
    ]
    model = onnx_model(
        nodes, [("x", "f32", ["N", "S", 4])], [("y", "f32", None)], {**CONSTS, "table": f32(10, 4)}
    )
    text = printed(model)
    assert "range() {limit=S}" in text and "slice(@table) {axes=[0], ends=[S], starts=[0]}" in text
    for s in (1, 6, 10):
        onnx_compare(model, {"x": f32(2, s, 4)})


def test_symbolic_arithmetic_in_a_reshape_target(onnx_model: Any, onnx_compare: Any) -> None:
    """[N, S*4 // 2, 2] from Mul and Div of shape elements."""
    nodes = [
        *dim_of("x", 0, "nb"),
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "c1"], "s"),
        n("Mul", ["s", "four_s"], "s4"),
        n("Div", ["s4", "c2"], "half"),
        n("Unsqueeze", ["half", "c0v"], "hv"),
        n("Concat", ["nb", "hv", "two"], "shp", axis=0),
        n("Reshape", ["x", "shp"], "y"),
    ]
    inits = {**CONSTS, "four_s": np.array(4, np.int64), "two": i64(2)}
    model = onnx_model(nodes, [("x", "f32", ["N", "S", 4])], [("y", "f32", None)], inits)
    assert "{shape=[N,2*S,2]}" in printed(model)
    onnx_compare(model, {"x": f32(2, 3, 4)})


def test_a_symbolic_dim_used_as_data_is_computed_from_the_shape(
    onnx_model: Any, onnx_compare: Any
) -> None:
    """x / S (a mean over a symbolic length): the dim becomes shape(x)[1] at runtime."""
    nodes = [
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "c1"], "s"),
        n("Cast", ["s"], "sf", to=1),
        n("Div", ["x", "sf"], "y"),
    ]
    model = onnx_model(nodes, [("x", "f32", ["N", "S"])], [("y", "f32", None)], CONSTS)
    graph = import_onnx(model)
    assert [node.op for node in graph.nodes] == ["shape", "slice", "reshape", "cast", "div"]
    for s in (2, 5):
        onnx_compare(model, {"x": f32(3, s)})
    specialized = ng.specialize(graph, {"N": 1, "S": 4})
    assert "shape" not in [node.op for node in specialized.nodes]


def test_a_shape_computed_from_data_is_refused_naming_the_node(onnx_model: Any) -> None:
    nodes = [n("Reshape", ["x", "shp"], "y")]
    model = onnx_model(nodes, [("x", "f32", [2, 6]), ("shp", "i64", [2])], [("y", "f32", [3, 4])])
    with pytest.raises(
        UnsupportedOpError, match="shape input of Reshape is computed from tensor data"
    ) as err:
        import_onnx(model)
    assert err.value.loc == "/y"


def test_an_undecidable_comparison_is_refused_where_a_shape_needs_it(onnx_model: Any) -> None:
    """Is N == 1? Unknown for a symbol, so the shape it selects is data at import."""
    nodes = [
        *dim_of("x", 0, "nb"),
        n("Equal", ["nb", "one"], "eq"),
        n("Where", ["eq", "three", "nb"], "pick"),
        n("Concat", ["pick", "four"], "shp", axis=0),
        n("Expand", ["x", "shp"], "y"),
    ]
    inits = {**CONSTS, "one": i64(1), "three": i64(3), "four": i64(4)}
    model = onnx_model(nodes, [("x", "f32", ["N", 4])], [("y", "f32", None)], inits)
    with pytest.raises(UnsupportedOpError, match="shape input of Expand") as err:
        import_onnx(model)
    assert err.value.loc == "/y"


def test_squeeze_without_axes_of_a_symbolic_dim_is_refused(onnx_model: Any) -> None:
    model = onnx_model([n("Squeeze", ["x"], "y")], [("x", "f32", ["N", 1])], [("y", "f32", ["N"])])
    with pytest.raises(UnsupportedOpError, match="give the axes explicitly"):
        import_onnx(model)


def test_unnamed_and_odd_dim_params_become_symbols(onnx_model: Any) -> None:
    model = onnx_model(
        [n("Relu", ["x"], "y")], [("x", "f32", ["batch size", None, 3])], [("y", "f32", None)]
    )
    graph = import_onnx(model)
    assert str(graph.inputs[0].type) == "f32[batch_size,x_dim1,3]"


def test_symbolic_shapes_as_outputs_and_an_input_as_output(
    onnx_model: Any, onnx_compare: Any
) -> None:
    """Shape(x) and Size(x) returned by the model are computed from x's shape; an input
    returned as an output gets an identity (names are unique: ``x.output``)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Size", ["x"], ["n"])]
    outputs = [("s", "i64", None), ("n", "i64", None), ("x", "f32", ["N", 3])]
    model = onnx_model(nodes, [("x", "f32", ["N", 3])], outputs)
    graph = import_onnx(model)
    assert [v.name for v in graph.outputs] == ["s", "n", "x.output"]
    assert [node.op for node in graph.nodes].count("shape") == 1
    x = f32(5, 3)
    out = ng.compile(graph)(x=x)
    assert out["s"].tolist() == [5, 3] and int(out["n"]) == 15
    np.testing.assert_array_equal(out["x.output"], x)


def test_ops_without_converter_fold_when_their_inputs_are_constants(
    onnx_model: Any, onnx_compare: Any
) -> None:
    """Mod has no converter: Mod(Shape(x)[1], 4) folds with onnx.reference for a static dim;
    on a symbolic dim it is refused naming the node; on data it is listed as unsupported."""
    nodes = [
        n("Shape", ["x"], "sh"),
        n("Gather", ["sh", "c1"], "s"),
        n("Mod", ["s", "four"], "m"),
        n("Cast", ["m"], "mf", to=1),
        n("Add", ["x", "mf"], "y"),
    ]
    inits = {**CONSTS, "four": np.array(4, np.int64)}
    static = onnx_model(nodes, [("x", "f32", ["N", 6])], [("y", "f32", None)], inits)
    assert "@mf: f32[] = 2.0" in printed(static)
    onnx_compare(static, {"x": f32(2, 6)})
    symbolic = onnx_model(nodes, [("x", "f32", [2, "S"])], [("y", "f32", None)], inits)
    with pytest.raises(
        UnsupportedOpError, match=r"Mod has no converter.*depends on the input"
    ) as e:
        import_onnx(symbolic)
    assert e.value.loc == "/m"
    on_data = onnx_model(
        [n("Mod", ["x", "x"], "y", fmod=1)], [("x", "f32", [2])], [("y", "f32", [2])]
    )
    with pytest.raises(UnsupportedOpError, match="Mod: 1 node"):
        import_onnx(on_data)
