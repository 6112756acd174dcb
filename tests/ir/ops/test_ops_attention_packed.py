"""attention's packed form (``num_heads=H``): q [B,Sq,H*D], k [B,Skv,H*D], v [B,Skv,H*Dv]
-> [B,Sq,H*Dv], meaning split heads (reshape [B,S,H,D], transpose (0,2,1,3)), the 4-D
form, merge heads back. Checked against the 4-D form on the split arrays (exactly:
the same core ops run on the same numbers) and against the per-vector formulas of
``test_ops_attention`` (rtol 1e-5, atol 1e-6); then inference, cost and errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nanograph.ir.errors import ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType, type_of_array
from tests.ir.ops.test_ops_attention import per_vector

RTOL, ATOL = 1e-5, 1e-6
OP = get_op("attention")


def run(*arrays: np.ndarray, **attrs: Any) -> np.ndarray:
    norm = OP.make_attrs(attrs)
    (out,) = OP.reference(list(arrays), norm)
    assert OP.infer([type_of_array(a) for a in arrays], norm) == [type_of_array(out)]
    return out


def split(x: np.ndarray, heads: int) -> np.ndarray:
    b, s, hidden = x.shape
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def merge(y: np.ndarray) -> np.ndarray:
    b, h, s, d = y.shape
    return y.transpose(0, 2, 1, 3).reshape(b, s, h * d)


def packed_qkv(
    b: int = 2, h: int = 3, sq: int = 5, skv: int = 6, d: int = 4, dv: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return (
        rng.standard_normal((b, sq, h * d)).astype(np.float32),
        rng.standard_normal((b, skv, h * d)).astype(np.float32),
        rng.standard_normal((b, skv, h * dv)).astype(np.float32),
    )


@pytest.mark.parametrize(
    "attrs",
    [{}, {"causal": True}, {"window": 1}, {"scale": 0.3, "causal": True, "window": 2}],
)
@pytest.mark.parametrize("mask", [None, "bool", "additive"])
def test_packed_is_split_attend_merge(attrs: dict[str, Any], mask: str | None) -> None:
    q, k, v = packed_qkv()
    extra: list[np.ndarray] = []
    rng = np.random.default_rng(2)
    if mask == "bool":
        extra = [rng.random((2, 3, 5, 6)) < 0.7]
        extra[0][..., 0] = True
    elif mask == "additive":
        extra = [rng.standard_normal((1, 3, 1, 6)).astype(np.float32)]
    got = run(q, k, v, *extra, num_heads=3, **attrs)
    assert got.shape == (2, 5, 6)
    heads = [split(x, 3) for x in (q, k, v)]
    np.testing.assert_array_equal(got, merge(run(*heads, *extra, **attrs)))
    qh, kh, vh = heads
    want = merge(per_vector(qh, kh, vh, extra[0] if extra else None, **attrs))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_default_scale_uses_the_head_dim() -> None:
    q, k, v = packed_qkv(d=4, h=3)  # hidden 12: D = 4, scale 1/2
    np.testing.assert_array_equal(run(q, k, v, num_heads=3), run(q, k, v, num_heads=3, scale=0.5))


def test_symbolic_infer_and_cost_match_the_4d_form() -> None:
    packed = [TensorType.of("f32", s) for s in (["B", "S", 64], ["B", "T", 64], ["B", "T", 32])]
    bnsh = [
        TensorType.of("f32", s) for s in (["B", 4, "S", 16], ["B", 4, "T", 16], ["B", 4, "T", 8])
    ]
    attrs = OP.make_attrs({"num_heads": 4, "causal": True})
    (out,) = OP.infer(packed, attrs)
    assert str(out) == "f32[B,S,32]"
    flat = OP.make_attrs({"causal": True})
    (out4,) = OP.infer(bnsh, flat)
    assert OP.cost(packed, [out], attrs).flops == OP.cost(bnsh, [out4], flat).flops
    symbolic = [
        TensorType.of("f32", s) for s in (["B", "S", "4*D"], ["B", "T", "4*D"], ["B", "T", "4*E"])
    ]
    (sym_out,) = OP.infer(symbolic, OP.make_attrs({"num_heads": 4, "scale": 0.1}))
    assert str(sym_out) == "f32[B,S,4*E]"


@pytest.mark.parametrize(
    ("shapes", "heads", "needle", "hint"),
    [
        ([["B", "S", 64]] * 3, 0, "must have rank 4", "set num_heads=H"),
        ([["B", 4, "S", 16]] * 3, 4, "must have rank 3", "set num_heads=0"),
        ([["B", "S", 64], ["B", "T", 64], ["B", "T", 30]], 4, "30 is not divisible", "H*D"),
        ([["B", "S", "E"]] * 3, 4, "E is not provably divisible", "4*D"),
        ([["B", "S", 64], ["B", "T", 32], ["B", "T", 32]], 4, "with H=4", "same hidden"),
        ([["B", "S", 64], ["B", "T", 64], ["B", "U", 64]], 4, "with H=4", "same length"),
        ([["B", "S", 64], ["C", "T", 64], ["B", "T", 64]], 4, "batch dims differ", "share B"),
        ([["B", "S", 64]] * 3 + [["B", 3, "S", "S"]], 4, "does not broadcast", ""),
        ([["B", "S", 64]] * 3, -1, "num_heads must be >= 0", "packed"),
    ],
)
def test_packed_errors(shapes: list[list[Any]], heads: int, needle: str, hint: str) -> None:
    types = [TensorType.of("f32", s) for s in shapes]
    with pytest.raises(ShapeError) as info:
        OP.infer(types, OP.make_attrs({"num_heads": heads, "scale": 1.0}))
    assert needle in info.value.message
    assert hint in (info.value.hint or "")
