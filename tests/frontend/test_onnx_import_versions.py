"""Version adapters: the same op written at an old and a new opset (attribute moved to an
input, new attribute at its default) imports to the same graph and the same values
(checked against onnxruntime, rtol 1e-5 / atol 1e-6); and every converter declares
exactly the schema versions that ONNX defines for it in opsets 13..28."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

import nanograph as ng
from nanograph.frontend.onnx_import import CONVERTERS, MAX_OPSET, MIN_OPSET, import_onnx

rng = np.random.default_rng(4)
X = rng.standard_normal((2, 3, 6)).astype(np.float32)
IMG = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs: Any) -> Any:
    return helper.make_node(op, ins, outs or ["y"], name="/op", **attrs)


# (name, [(opset, nodes, initializers), ...], input, outputs)
CASES = [
    (
        "ReduceMean axes attribute -> input",
        [
            (17, [node("ReduceMean", ["x"], axes=[1, 2], keepdims=0)], {}),
            (18, [node("ReduceMean", ["x", "ax"], keepdims=0)], {"ax": i64(1, 2)}),
        ],
        X,
        ["y"],
    ),
    (
        "ReduceMax 13 / 18 / 20",
        [
            (17, [node("ReduceMax", ["x"], axes=[-1])], {}),
            (18, [node("ReduceMax", ["x", "ax"])], {"ax": i64(-1)}),
            (20, [node("ReduceMax", ["x", "ax"])], {"ax": i64(-1)}),
        ],
        X,
        ["y"],
    ),
    (
        "Split equal parts -> num_outputs",
        [
            (17, [node("Split", ["x"], ["p", "q", "r"], axis=2)], {}),
            (18, [node("Split", ["x"], ["p", "q", "r"], axis=2, num_outputs=3)], {}),
        ],
        X,
        ["p", "q", "r"],
    ),
    (
        "Reshape 13 / 14 allowzero=0 / 21",
        [
            (13, [node("Reshape", ["x", "s"])], {"s": i64(0, -1)}),
            (14, [node("Reshape", ["x", "s"], allowzero=0)], {"s": i64(0, -1)}),
            (21, [node("Reshape", ["x", "s"])], {"s": i64(0, -1)}),
        ],
        X,
        ["y"],
    ),
    (
        "Pad 13 / 18 axes input",
        [
            (13, [node("Pad", ["x", "p"])], {"p": i64(0, 0, 1, 0, 0, 2)}),
            (18, [node("Pad", ["x", "p", "", "ax"])], {"p": i64(1, 2), "ax": i64(2)}),
            (19, [node("Pad", ["x", "p"], mode="constant")], {"p": i64(0, 0, 1, 0, 0, 2)}),
        ],
        X,
        ["y"],
    ),
    (
        "Shape 13 / 15 start-end",
        [
            (
                13,
                [node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "a", "b"], ["y"])],
                {"a": i64(1), "b": i64(2)},
            ),
            (15, [node("Shape", ["x"], start=1, end=2)], {}),
        ],
        X,
        ["y"],
    ),
    (
        "AveragePool 17 / 19 / 22",
        [
            (opset, [node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], {})
            for opset in (17, 19, 22)
        ],
        IMG,
        ["y"],
    ),
    (
        "Conv 11 / 22",
        [
            (
                opset,
                [node("Conv", ["x", "w"], pads=[1, 1, 1, 1])],
                {"w": np.full((3, 2, 3, 3), 0.1, np.float32)},
            )
            for opset in (17, 22)
        ],
        IMG,
        ["y"],
    ),
    (
        "Cast 13 .. 25",
        [
            (opset, [node("Cast", ["x"], to=onnx.TensorProto.INT64)], {})
            for opset in (13, 19, 21, 25)
        ],
        X * 4,
        ["y"],
    ),
    ("Dropout 13 / 22", [(opset, [node("Dropout", ["x"])], {}) for opset in (17, 22)], X, ["y"]),
]


@pytest.mark.parametrize(
    ("variants", "x", "outs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_old_and_new_opsets_give_the_same_graph_and_values(
    onnx_model: Any, onnx_compare: Any, variants: list[Any], x: np.ndarray, outs: list[str]
) -> None:
    texts = set()
    for opset, nodes, inits in variants:
        kinds = ["i64" if "Shape" in str(nodes) or "Cast" in str(nodes) else "f32"] * len(outs)
        outputs = [(name, kind, None) for name, kind in zip(outs, kinds, strict=True)]
        model = onnx_model(nodes, [("x", "f32", list(x.shape))], outputs, inits, opset=opset)
        onnx_compare(model, {"x": x})
        texts.add(ng.print_graph(import_onnx(model)).replace("/op", "-"))
    assert len(texts) == 1, "\n".join(texts)


def _defined_versions(op_type: str) -> set[int]:
    versions = set()
    for opset in range(MIN_OPSET, MAX_OPSET + 1):
        try:
            versions.add(onnx.defs.get_schema(op_type, opset, "").since_version)
        except onnx.defs.SchemaError:
            continue
    return versions


def test_every_converter_declares_every_schema_version_in_13_to_28() -> None:
    """A new schema version must be reviewed (and an adapter written if needed) before
    it is accepted; one that no opset selects must not be claimed."""
    for (domain, op_type), entry in sorted(CONVERTERS.items()):
        if domain:
            continue
        assert set(entry.versions) == _defined_versions(op_type), op_type


def test_a_version_we_did_not_review_is_listed_as_unsupported(
    onnx_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = CONVERTERS[("", "Relu")]
    monkeypatch.setitem(CONVERTERS, ("", "Relu"), type(entry)("Relu", "", (13,), entry.fn))
    model = onnx_model([node("Relu", ["x"])], [("x", "f32", [2])], [("y", "f32", [2])], opset=14)
    with pytest.raises(ng.errors.UnsupportedOpError, match=r"Relu \[version 14 \(nanograph"):
        import_onnx(model)
