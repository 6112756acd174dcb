"""Each converter against onnxruntime: a one-op (or few-op) ONNX model, imported and run
by the reference interpreter, must match onnxruntime CPU on the same file within
rtol 1e-5 / atol 1e-6 (float32; both sides compute each op once, so only rounding
differs), with identical shapes and dtypes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from onnx import helper, numpy_helper

rng = np.random.default_rng(0)
DTYPES = {np.float32: "f32", np.int64: "i64", np.int32: "i32", np.bool_: "bool"}


def f32(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float32)


def i64(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs: Any) -> Any:
    return helper.make_node(op, ins, outs or ["y"], **attrs)


def case(
    name: str,
    nodes: list[Any],
    feeds: Mapping[str, np.ndarray],
    outs: Mapping[str, str] | None = None,
    inits: Mapping[str, np.ndarray] | None = None,
    opset: int = 17,
) -> Any:
    return pytest.param(
        nodes, dict(feeds), dict(outs or {"y": "f32"}), dict(inits or {}), opset, id=name
    )


X = f32(2, 3, 4)
POS = f32(2, 3, 4, low=0.1, high=3.0)
IMG = f32(2, 4, 7, 7)
BOOLS = rng.random((2, 3, 4)) < 0.5

UNARY = [
    case(op, [node(op, ["x"])], {"x": POS if op in ("Log", "Sqrt", "Reciprocal") else X})
    for op in (
        "Relu",
        "Sigmoid",
        "Tanh",
        "Exp",
        "Log",
        "Sqrt",
        "Erf",
        "Reciprocal",
        "Neg",
        "Abs",
        "Identity",
    )
] + [
    case("LeakyRelu", [node("LeakyRelu", ["x"], alpha=0.2)], {"x": X}),
    case("Gelu-erf", [node("Gelu", ["x"])], {"x": X}, opset=20),
    case("Gelu-tanh", [node("Gelu", ["x"], approximate="tanh")], {"x": X}, opset=20),
    case("Softmax", [node("Softmax", ["x"], axis=1)], {"x": X}),
    case("Not", [node("Not", ["b"])], {"b": BOOLS}, {"y": "bool"}),
]

BINARY = (
    [
        case(op, [node(op, ["x", "z"])], {"x": X, "z": f32(3, 1)})
        for op in ("Add", "Sub", "Mul", "Div")
    ]
    + [
        case(op, [node(op, ["x", "z"])], {"x": X, "z": f32(4)}, {"y": "bool"})
        for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")
    ]
    + [
        case(
            op,
            [node(op, ["a", "b"])],
            {"a": BOOLS, "b": np.ascontiguousarray(BOOLS[:, :1])},
            {"y": "bool"},
        )
        for op in ("And", "Or")
    ]
    + [
        case(
            "Div-int",
            [node("Div", ["a", "b"])],
            {"a": i64(-7, 7, -8, 9), "b": i64(2, -2, 3, 4)},
            {"y": "i64"},
        ),
        case("Pow", [node("Pow", ["x", "z"])], {"x": POS, "z": f32(4)}),
        case(
            "Pow-int-exponent", [node("Pow", ["x", "e"])], {"x": X}, inits={"e": i64(2)}, opset=15
        ),
        case("Where", [node("Where", ["b", "x", "z"])], {"b": BOOLS, "x": X, "z": f32(4)}),
        case("Min", [node("Min", ["x", "z", "w"])], {"x": X, "z": f32(4), "w": f32(3, 1)}),
        case("Max", [node("Max", ["x", "z", "w"])], {"x": X, "z": f32(4), "w": f32(3, 1)}),
        case("Sum", [node("Sum", ["x", "z", "w"])], {"x": X, "z": f32(4), "w": f32(3, 1)}),
        case("Mean", [node("Mean", ["x", "z", "w"])], {"x": X, "z": f32(4), "w": f32(3, 1)}),
        case(
            "Clip-const",
            [node("Clip", ["x", "lo", "hi"])],
            {"x": X},
            inits={"lo": np.float32(-0.5), "hi": np.float32(0.7)},
        ),
        case("Clip-min-only", [node("Clip", ["x", "lo"])], {"x": X}, inits={"lo": np.float32(0)}),
        case(
            "Clip-runtime",
            [node("Clip", ["x", "lo", "hi"])],
            {"x": X, "lo": np.array(-0.3, np.float32), "hi": np.array(0.4, np.float32)},
        ),
        case(
            "Clip-int",
            [node("Clip", ["a", "lo", "hi"])],
            {"a": i64(-5, 0, 3, 9)},
            {"y": "i64"},
            inits={"lo": np.int64(-1), "hi": np.int64(4)},
        ),
        case("Cast-f32-i64", [node("Cast", ["x"], to=7)], {"x": X * 3}, {"y": "i64"}),
        case("Cast-i64-f32", [node("Cast", ["a"], to=1)], {"a": i64(1, -2, 3)}),
        case("Cast-f32-bool", [node("Cast", ["x"], to=9)], {"x": np.round(X)}, {"y": "bool"}),
        case("CastLike", [node("CastLike", ["a", "x"])], {"a": i64(1, 2), "x": f32(1)}),
        case(
            "Dropout-mask",
            [node("Dropout", ["x"], ["y", "m"])],
            {"x": X},
            {"y": "f32", "m": "bool"},
        ),
    ]
)

LINALG = [
    case("MatMul", [node("MatMul", ["x", "w"])], {"x": X, "w": f32(4, 5)}),
    case("MatMul-batched", [node("MatMul", ["x", "w"])], {"x": X, "w": f32(2, 4, 3)}),
    case(
        "Gemm",
        [node("Gemm", ["a", "w", "c"], transA=1, transB=1, alpha=0.5, beta=2.0)],
        {"a": f32(4, 3)},
        inits={"w": f32(5, 4), "c": f32(5)},
    ),
    case("Gemm-plain", [node("Gemm", ["a", "w"])], {"a": f32(3, 4), "w": f32(4, 5)}),
]

CONV = [
    case(
        "Conv",
        [
            node(
                "Conv",
                ["x", "w", "b"],
                pads=[1, 2, 0, 1],
                strides=[2, 1],
                dilations=[1, 2],
                group=2,
            )
        ],
        {"x": IMG},
        inits={"w": f32(6, 2, 3, 3), "b": f32(6)},
    ),
    *(
        case(
            f"Conv-{mode}",
            [node("Conv", ["x", "w"], auto_pad=mode, strides=[2, 2])],
            {"x": IMG},
            inits={"w": f32(3, 4, 3, 2)},
        )
        for mode in ("SAME_UPPER", "SAME_LOWER", "VALID")
    ),
    case(
        "Conv-1d",
        [node("Conv", ["x", "w", "b"], pads=[2, 1], strides=[2], dilations=[2])],
        {"x": f32(2, 3, 11)},
        inits={"w": f32(5, 3, 3), "b": f32(5)},
    ),
    case(
        "MaxPool",
        [
            node(
                "MaxPool",
                ["x"],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
                ceil_mode=1,
            )
        ],
        {"x": IMG},
    ),
    case(
        "MaxPool-dilated",
        [node("MaxPool", ["x"], kernel_shape=[2, 2], dilations=[2, 2])],
        {"x": IMG},
    ),
    case(
        "MaxPool-1d", [node("MaxPool", ["x"], kernel_shape=[3], strides=[2])], {"x": f32(2, 3, 9)}
    ),
    case(
        "AveragePool",
        [node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
        {"x": IMG},
    ),
    case(
        "AveragePool-include-pad",
        [node("AveragePool", ["x"], kernel_shape=[3, 2], pads=[1, 0, 1, 1], count_include_pad=1)],
        {"x": IMG},
    ),
    case(
        "AveragePool-ceil",
        [node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
        {"x": IMG},
    ),
    case(
        "AveragePool-same",
        [node("AveragePool", ["x"], kernel_shape=[3, 3], auto_pad="SAME_UPPER")],
        {"x": IMG},
    ),
    case("GlobalAveragePool", [node("GlobalAveragePool", ["x"])], {"x": IMG}),
    case("GlobalMaxPool", [node("GlobalMaxPool", ["x"])], {"x": IMG}),
    case("GlobalAveragePool-1d", [node("GlobalAveragePool", ["x"])], {"x": f32(2, 3, 5)}),
]

NORM = [
    case(
        "BatchNormalization",
        [node("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3)],
        {"x": IMG},
        inits={"s": f32(4), "b": f32(4), "m": f32(4), "v": f32(4, low=0.5, high=2)},
    ),
    case(
        "LayerNormalization",
        [node("LayerNormalization", ["x", "s", "b"])],
        {"x": X},
        inits={"s": f32(4), "b": f32(4)},
    ),
    case(
        "LayerNormalization-axis1",
        [node("LayerNormalization", ["x", "s"], axis=1, epsilon=1e-2)],
        {"x": X},
        inits={"s": f32(3, 4)},
    ),
    case(
        "LayerNormalization-statistics",
        [node("LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=-2)],
        {"x": X},
        {"y": "f32", "mean": "f32", "inv": "f32"},
        inits={"s": f32(3, 4), "b": f32(4)},
    ),
]

REDUCE = [
    case(
        "ReduceMax-bool-20",
        [node("ReduceMax", ["b", "ax"], keepdims=0)],
        {"b": BOOLS},
        {"y": "bool"},
        inits={"ax": i64(1)},
        opset=20,
    ),
    case(
        "ReduceSum", [node("ReduceSum", ["x", "ax"], keepdims=0)], {"x": X}, inits={"ax": i64(0, 2)}
    ),
    case("ReduceSum-all", [node("ReduceSum", ["x"])], {"x": X}),
    case("ReduceSum-noop", [node("ReduceSum", ["x"], noop_with_empty_axes=1)], {"x": X}),
    case("ReduceMean-13", [node("ReduceMean", ["x"], axes=[-1])], {"x": X}),
    case(
        "ReduceMean-18",
        [node("ReduceMean", ["x", "ax"])],
        {"x": X},
        inits={"ax": i64(-1)},
        opset=18,
    ),
    case("ReduceMax", [node("ReduceMax", ["x"], axes=[1], keepdims=0)], {"x": X}),
    case(
        "ReduceMin-18", [node("ReduceMin", ["x", "ax"])], {"x": X}, inits={"ax": i64(0)}, opset=18
    ),
    case("ArgMax", [node("ArgMax", ["x"], axis=1, keepdims=0)], {"x": X}, {"y": "i64"}),
]

SHAPE = [
    case("Reshape", [node("Reshape", ["x", "s"])], {"x": X}, inits={"s": i64(0, -1, 2)}),
    case(
        "Reshape-allowzero",
        [node("Reshape", ["x", "s"], allowzero=1)],
        {"x": X},
        inits={"s": i64(4, 6)},
        opset=14,
    ),
    case("Transpose", [node("Transpose", ["x"])], {"x": X}),
    case("Transpose-perm", [node("Transpose", ["x"], perm=[1, 0, 2])], {"x": X}),
    case("Flatten", [node("Flatten", ["x"], axis=2)], {"x": X}),
    case("Squeeze", [node("Squeeze", ["x", "ax"])], {"x": f32(2, 1, 3, 1)}, inits={"ax": i64(-1)}),
    case("Squeeze-all", [node("Squeeze", ["x"])], {"x": f32(1, 3, 1)}),
    case("Unsqueeze", [node("Unsqueeze", ["x", "ax"])], {"x": X}, inits={"ax": i64(0, -1)}),
    case("Concat", [node("Concat", ["x", "z"], axis=-1)], {"x": X, "z": f32(2, 3, 2)}),
    case(
        "Split",
        [node("Split", ["x", "s"], ["p", "q"], axis=2)],
        {"x": X},
        {"p": "f32", "q": "f32"},
        inits={"s": i64(1, 3)},
    ),
    case(
        "Split-equal",
        [node("Split", ["x"], ["p", "q"], axis=-1)],
        {"x": X},
        {"p": "f32", "q": "f32"},
    ),
    case(
        "Split-uneven-18",
        [node("Split", ["x"], ["p", "q", "r"], axis=2, num_outputs=3)],
        {"x": f32(2, 3, 7)},
        {"p": "f32", "q": "f32", "r": "f32"},
        opset=18,
    ),
    case(
        "Slice",
        [node("Slice", ["x", "st", "en", "ax", "sp"])],
        {"x": f32(5, 6, 7)},
        inits={"st": i64(1, -1), "en": i64(2**63 - 1, -(2**63)), "ax": i64(0, 2), "sp": i64(2, -2)},
    ),
    case(
        "Slice-clamped",
        [node("Slice", ["x", "st", "en"])],
        {"x": f32(5, 6)},
        inits={"st": i64(-100, 2), "en": i64(3, 100)},
    ),
    case("Expand", [node("Expand", ["x", "s"])], {"x": f32(3, 1)}, inits={"s": i64(2, 1, 4)}),
    case(
        "Pad",
        [node("Pad", ["x", "p", "v"])],
        {"x": X},
        inits={"p": i64(0, 1, 2, 1, 0, 1), "v": np.float32(1.5)},
    ),
    case(
        "Pad-reflect",
        [node("Pad", ["x", "p"], mode="reflect")],
        {"x": X},
        inits={"p": i64(0, 1, 2, 0, 1, 1)},
    ),
    case(
        "Pad-edge-crop",
        [node("Pad", ["x", "p"], mode="edge")],
        {"x": X},
        inits={"p": i64(0, -1, 2, 0, 1, -2)},
    ),
    case(
        "Pad-axes-18",
        [node("Pad", ["x", "p", "", "ax"])],
        {"x": X},
        inits={"p": i64(1, 2), "ax": i64(-1)},
        opset=18,
    ),
    case(
        "Gather", [node("Gather", ["x", "i"], axis=1)], {"x": X}, inits={"i": i64([0, -1], [2, 1])}
    ),
    case("Gather-scalar", [node("Gather", ["x", "i"])], {"x": X}, inits={"i": np.int64(-1)}),
    case("Gather-runtime", [node("Gather", ["x", "i"], axis=2)], {"x": X, "i": i64(3, 0, 3)}),
    case("Shape", [node("Shape", ["x"], start=1, end=-1)], {"x": X}, {"y": "i64"}, opset=15),
    case("Size", [node("Size", ["x"])], {"x": X}, {"y": "i64"}),
    case(
        "Range-float",
        [node("Range", ["a", "b", "c"])],
        {},
        inits={"a": np.float32(1), "b": np.float32(2.5), "c": np.float32(0.4)},
    ),
    case(
        "Range-int",
        [node("Range", ["a", "b", "c"])],
        {},
        {"y": "i64"},
        inits={"a": np.int64(10), "b": np.int64(1), "c": np.int64(-3)},
    ),
    case(
        "ConstantOfShape",
        [node("ConstantOfShape", ["s"], value=numpy_helper.from_array(np.array([7], np.int64)))],
        {},
        {"y": "i64"},
        inits={"s": i64(2, 3)},
    ),
    case(
        "Constant-floats",
        [node("Constant", [], ["c"], value_floats=[1.0, 2.0]), node("Add", ["x", "c"])],
        {"x": f32(3, 2)},
    ),
    case(
        "Constant-int",
        [node("Constant", [], ["c"], value_int=3), node("Add", ["a", "c"])],
        {"a": i64(1, 2)},
        {"y": "i64"},
    ),
    case(
        "Constant-value-ints-float",
        [
            node("Constant", [], ["c"], value=numpy_helper.from_array(f32(2, 1))),
            node("Constant", [], ["d"], value_ints=[2, 1]),
            node("Constant", [], ["e"], value_float=0.5),
            node("Reshape", ["c", "d"], ["r"]),
            node("Mul", ["r", "e"]),
        ],
        {},
    ),
    case(
        "Constant-sparse",
        [
            node(
                "Constant",
                [],
                ["c"],
                sparse_value=helper.make_sparse_tensor(
                    numpy_helper.from_array(np.array([5.0, 6.0], np.float32)),
                    numpy_helper.from_array(np.array([1, 4], np.int64)),
                    [2, 3],
                ),
            ),
            node("Add", ["x", "c"]),
        ],
        {"x": f32(2, 3)},
    ),
]


@pytest.mark.parametrize(
    ("nodes", "feeds", "outs", "inits", "opset"),
    UNARY + BINARY + LINALG + CONV + NORM + REDUCE + SHAPE,
)
def test_single_op_matches_onnxruntime(
    onnx_model: Callable[..., Any],
    onnx_compare: Callable[..., Any],
    nodes: list[Any],
    feeds: dict[str, np.ndarray],
    outs: dict[str, str],
    inits: dict[str, np.ndarray],
    opset: int,
) -> None:
    inputs = [(n, DTYPES[a.dtype.type], list(a.shape)) for n, a in feeds.items()]
    outputs = [(n, t, None) for n, t in outs.items()]
    model = onnx_model(nodes, inputs, outputs, inits, opset=opset)
    onnx_compare(model, feeds)


def test_int_division_truncates_like_onnx(onnx_model: Any, onnx_compare: Any) -> None:
    """Shape arithmetic relies on it: -7 / 2 is -3 in ONNX (and C), not -4."""
    model = onnx_model(
        [node("Div", ["a", "b"])], [("a", "i64", [2]), ("b", "i64", [2])], [("y", "i64", None)]
    )
    out = onnx_compare(model, {"a": i64(-7, 7), "b": i64(2, 2)})
    assert out["y"].tolist() == [-3, 3]
