"""The blocked NumPy attention kernel vs the op's reference (its decomposition).

Both forms (q/k/v [B,H,S,D], and packed [B,S,H*D] with ``num_heads``), bool and
additive masks of several broadcast shapes, causal, window, Sq != Skv, S from 1
to 700; blocks are crossed both at the real bound (``SCORE_BLOCK`` = 2**20 score
elements) and at a tiny patched one, so that rows, heads and batches all split
into ragged blocks. Rows with no visible key must be NaN exactly where the
reference's are.

Tolerances: float32 rtol 1e-5, atol 1e-6 (the kernel computes in float32, the
reference accumulates each core op in float64 and rounds to float32 between
them). float16 rtol 1e-2, atol 4e-3: the reference rounds every intermediate
(scores, probabilities) to float16, the kernel computes in float32 and rounds
once, so the test also checks the kernel is at least as close to float32 truth.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import nanograph.backends.kernels.attention as kernel_module
from nanograph.backends.kernels import NUMPY_KERNELS, SCORE_BLOCK, attention_kernel
from nanograph.backends.reference import ReferenceInterpreter, run_reference
from nanograph.ir.attrs import Attrs
from nanograph.ir.errors import ExecutionError, InternalError
from nanograph.ir.graph import Graph
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType

F32 = (1e-5, 1e-6)  # (rtol, atol)
F16 = (1e-2, 4e-3)
OP = get_op("attention")


def make_inputs(
    b: int,
    h: int,
    sq: int,
    skv: int,
    d: int = 8,
    dv: int = 8,
    packed: bool = False,
    mask: tuple[str, tuple[int, ...]] | None = None,
    dtype: Any = np.float32,
    seed: int = 0,
) -> list[np.ndarray]:
    """q, k, v (and a mask broadcastable to [B,H,Sq,Skv]) of standard normal values."""
    rng = np.random.default_rng(seed)

    def tensor(seq: int, size: int) -> np.ndarray:
        shape = (b, seq, h * size) if packed else (b, h, seq, size)
        return rng.standard_normal(shape).astype(dtype)

    arrays = [tensor(sq, d), tensor(skv, d), tensor(skv, dv)]
    if mask is not None:
        kind, shape = mask
        if kind == "bool":
            arrays.append(rng.random(shape) < 0.8)
        else:
            arrays.append((2 * rng.standard_normal(shape)).astype(dtype))
    return arrays


def compare(arrays: list[np.ndarray], tol: tuple[float, float], **attrs: Any) -> np.ndarray:
    """The kernel's result, asserted equal to the reference's (NaN where it is NaN)."""
    norm = OP.make_attrs(attrs)
    (want,) = OP.reference(arrays, norm)
    (got,) = attention_kernel(arrays, norm)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1], equal_nan=True)
    return got


SHAPES = {  # (B, H, Sq, Skv, D, Dv)
    "one": (1, 1, 1, 1, 4, 4),
    "small": (2, 3, 5, 7, 4, 6),
    "long-q": (1, 2, 129, 33, 8, 8),
    "long-kv": (2, 2, 17, 300, 16, 8),
    "square": (2, 2, 256, 256, 8, 16),
    "big": (2, 3, 700, 650, 16, 8),  # 2.7M scores: three blocks at the real bound
}
ATTRS: dict[str, dict[str, Any]] = {
    "none": {},
    "causal": {"causal": True},
    "window": {"window": 3},
    "causal-window": {"causal": True, "window": 40},
    "scale": {"scale": 0.3},
}


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
@pytest.mark.parametrize("attrs", list(ATTRS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_kernel_matches_reference(shape: str, attrs: str, packed: bool) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    arrays = make_inputs(b, h, sq, skv, d, dv, packed=packed)
    extra = {"num_heads": h} if packed else {}
    compare(arrays, F32, **ATTRS[attrs], **extra)


MASKS = {
    "bool-full": ("bool", "BHQK"),
    "bool-2d": ("bool", "QK"),
    "bool-keys": ("bool", "B11K"),
    "bool-heads": ("bool", "1HQK"),
    "add-full": ("f", "BHQK"),
    "add-2d": ("f", "QK"),
    "add-keys": ("f", "K"),
    "add-rows": ("f", "B1Q1"),
}


def mask_shape(letters: str, b: int, h: int, sq: int, skv: int) -> tuple[int, ...]:
    sizes = {"B": b, "H": h, "Q": sq, "K": skv, "1": 1}
    return tuple(sizes[c] for c in letters)


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
@pytest.mark.parametrize("attrs", ["none", "causal", "window"])
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("shape", ["small", "long-q", "square"])
def test_kernel_with_masks(shape: str, mask: str, attrs: str, packed: bool) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    kind, letters = MASKS[mask]
    arrays = make_inputs(
        b, h, sq, skv, d, dv, packed=packed, mask=(kind, mask_shape(letters, b, h, sq, skv))
    )
    extra = {"num_heads": h} if packed else {}
    compare(arrays, F32, **ATTRS[attrs], **extra)


@pytest.mark.parametrize("block", [1, 7, 100, 1000, 5000])
@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
def test_tiny_blocks_split_rows_heads_and_batches(
    monkeypatch: pytest.MonkeyPatch, block: int, packed: bool
) -> None:
    """A patched bound makes ragged blocks of rows (block < Skv), of heads and of
    batches (block > Sq*Skv), with every mask and position rule at once."""
    monkeypatch.setattr(kernel_module, "SCORE_BLOCK", block)
    b, h, sq, skv = 3, 3, 23, 19
    arrays = make_inputs(b, h, sq, skv, 4, 5, packed=packed, mask=("f", (b, 1, sq, skv)))
    extra = {"num_heads": h} if packed else {}
    compare(arrays, F32, causal=True, window=6, **extra)
    arrays[3] = arrays[3] > 0  # the same as a bool mask
    compare(arrays, F32, window=2, **extra)


def hidden_row_cases() -> dict[str, tuple[list[np.ndarray], dict[str, Any]]]:
    """Inputs where some query rows see no key at all (NaN in the reference)."""
    bool_mask = make_inputs(2, 2, 6, 5, mask=("bool", (2, 1, 6, 5)))
    bool_mask[3][1, 0, 2] = False
    additive = make_inputs(1, 2, 4, 4, mask=("f", (4, 4)))
    additive[3][0] = -np.inf
    causal_bool = make_inputs(1, 2, 4, 4, mask=("bool", (4, 4)))
    causal_bool[3][:, 0] = False  # query 0 sees only key 0 under causal: hidden here
    return {
        "bool": (bool_mask, {}),
        "additive": (additive, {}),
        "causal-bool": (causal_bool, {"causal": True}),
        "window-past-end": (make_inputs(1, 2, 9, 3), {"window": 1}),  # whole blocks empty
    }


@pytest.mark.parametrize("case", list(hidden_row_cases()))
def test_rows_with_no_visible_key_are_nan_like_the_reference(case: str) -> None:
    arrays, attrs = hidden_row_cases()[case]
    got = compare(arrays, F32, **attrs)
    assert np.isnan(got).any() and not np.isnan(got).all()


def nonfinite_hidden_key_cases() -> dict[str, tuple[list[np.ndarray], dict[str, Any]]]:
    """Inputs where a key that some rows hide scores NaN or +inf there (k holds NaN/inf).

    The reference sets hidden scores to -inf, so those rows stay finite; adding -inf to
    a NaN/+inf score would make them NaN (the kernels' fast path, redone exactly)."""
    cases: dict[str, tuple[list[np.ndarray], dict[str, Any]]] = {}
    for bad in ("nan", "inf"):
        value = np.float32(bad)
        causal = make_inputs(2, 2, 6, 6)
        causal[1][0, 1, 4, :] = value  # key 4 of head 1: hidden from queries 0..3
        cases[f"causal-{bad}"] = (causal, {"causal": True})
        window = make_inputs(1, 2, 7, 7, packed=True)
        window[1][0, 0, :] = value  # key 0, both heads: hidden from queries 2.. (window 1)
        cases[f"window-packed-{bad}"] = (window, {"window": 1, "num_heads": 2})
        masked = make_inputs(1, 1, 5, 4, mask=("bool", (5, 4)))
        masked[3][:] = True
        masked[3][1:, 2] = False  # key 2 hidden from rows 1..4 only
        masked[1][0, 0, 2, :] = value
        cases[f"bool-mask-{bad}"] = (masked, {})
    return cases


@pytest.mark.parametrize("case", list(nonfinite_hidden_key_cases()))
def test_hidden_keys_with_nonfinite_scores_are_hidden_like_the_reference(case: str) -> None:
    arrays, attrs = nonfinite_hidden_key_cases()[case]
    with np.errstate(invalid="ignore"):
        got = compare(arrays, F32, **attrs)
    assert np.isfinite(got).any() and not np.isfinite(got).all()  # both kinds of rows


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
@pytest.mark.parametrize("sq", [5, 64, 300])
def test_float16_is_as_accurate_as_the_reference(sq: int, packed: bool) -> None:
    arrays = make_inputs(2, 3, sq, sq, 16, 16, packed=packed, mask=("f", (sq, sq)), dtype="f2")
    attrs = {"causal": True, **({"num_heads": 3} if packed else {})}
    got = compare(arrays, F16, **attrs)
    norm = OP.make_attrs(attrs)
    (truth,) = OP.reference([a.astype(np.float32) for a in arrays], norm)
    (reference,) = OP.reference(arrays, norm)
    assert np.abs(got - truth).max() <= np.abs(reference - truth).max() + 1e-4


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_peak_memory_is_a_block_not_the_score_matrix(causal: bool) -> None:
    """At S=2048 the whole score matrix of 4 heads is 64 MiB (float32). The kernel's peak
    is one block of SCORE_BLOCK scores (4 MiB), under causal the block's [rows, keys]
    position mask (bool) and bias (float32), and the copies of q, k^T, [v, 1] and the
    output it makes (1 MiB each here)."""
    b, h, s, d = 1, 4, 2048, 32
    arrays = make_inputs(b, h, s, s, d, d)
    full = b * h * s * s * 4
    attrs = OP.make_attrs({"causal": causal})
    attention_kernel([a[:, :, :64] for a in arrays], attrs)  # warm up NumPy's caches
    tracemalloc.start()
    try:
        attention_kernel(arrays, attrs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    operands = 4 * b * h * s * (d + 1) * 4
    position_mask = kernel_module.MASKED_ROWS * s * (1 + 4) if causal else 0
    assert peak < SCORE_BLOCK * 4 + position_mask + operands + 2**18
    assert peak < full / 6


def attention_graph(**attrs: Any) -> Graph:
    g = Graph("att")
    ins = [g.add_input(n, TensorType.of("f32", ("B", 2, "S", 8))) for n in ("q", "k", "v")]
    node = g.add("attention", ins, attrs, loc="model.py:3", names=["y"])
    g.outputs = [node.output]
    return g


def test_interpreter_calls_a_given_kernel_instead_of_the_reference() -> None:
    calls: list[tuple[tuple[int, ...], Attrs]] = []

    def recording(inputs: Any, attrs: Attrs) -> list[np.ndarray]:
        calls.append((inputs[0].shape, attrs))
        return attention_kernel(inputs, attrs)

    graph = attention_graph(causal=True)
    feeds = dict(zip(("q", "k", "v"), make_inputs(2, 2, 5, 5), strict=True))
    interpreter = ReferenceInterpreter(graph, kernels={"attention": recording})
    got = interpreter.run(feeds)["y"]
    assert len(calls) == 1 and calls[0][0] == (2, 2, 5, 8) and calls[0][1]["causal"]
    want = run_reference(graph, feeds)["y"]  # no kernels: the reference
    np.testing.assert_allclose(got, want, rtol=F32[0], atol=F32[1])
    assert len(calls) == 1
    fast = ReferenceInterpreter(graph, kernels=NUMPY_KERNELS).run(feeds)["y"]
    np.testing.assert_allclose(fast, want, rtol=F32[0], atol=F32[1])


def test_interpreter_checks_and_wraps_kernels_like_references() -> None:
    graph = attention_graph()
    feeds = dict(zip(("q", "k", "v"), make_inputs(1, 2, 3, 3), strict=True))

    def failing(inputs: Any, attrs: Attrs) -> list[np.ndarray]:
        raise ValueError("boom")

    with pytest.raises(ExecutionError, match=r"attention failed on inputs.*boom") as info:
        ReferenceInterpreter(graph, kernels={"attention": failing}).run(feeds)
    assert info.value.loc == "model.py:3"

    def wrong_dtype(inputs: Any, attrs: Attrs) -> list[np.ndarray]:
        return [attention_kernel(inputs, attrs)[0].astype(np.float16)]

    with pytest.raises(InternalError, match="output %y is float16"):
        ReferenceInterpreter(graph, kernels={"attention": wrong_dtype}).run(feeds)
