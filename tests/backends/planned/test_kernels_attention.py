"""The executor's attention kernel (the blocked kernel on workspace) against the op's
reference: both forms, bool and additive masks of several broadcast shapes, causal,
window, explicit scale, ragged blocks, rows with no visible key, float16, zoo shapes.

Tolerances as for the blocked kernel (``tests/backends/test_attention_kernel.py``):
float32 rtol 1e-5 / atol 1e-6, float16 rtol 1e-2 / atol 4e-3 (the reference rounds
each intermediate to float16, the kernel computes in float32 and rounds once).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nanograph.backends.planned.kernels.attention as planned_attention
from tests.backends.planned.test_kernels_harness import check_kernel
from tests.backends.test_attention_kernel import (
    ATTRS,
    MASKS,
    SHAPES,
    hidden_row_cases,
    make_inputs,
    mask_shape,
    nonfinite_hidden_key_cases,
)

F32 = {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
@pytest.mark.parametrize("attrs", list(ATTRS))
@pytest.mark.parametrize("shape", ["one", "small", "long-q", "long-kv", "square"])
def test_matches_reference(shape: str, attrs: str, packed: bool) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    arrays = make_inputs(b, h, sq, skv, d, dv, packed=packed)
    extra = {"num_heads": h} if packed else {}
    check_kernel("attention", arrays, {**ATTRS[attrs], **extra}, **F32)


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
@pytest.mark.parametrize("attrs", ["none", "causal", "window"])
@pytest.mark.parametrize("mask", list(MASKS))
def test_masks(mask: str, attrs: str, packed: bool) -> None:
    b, h, sq, skv, d, dv = SHAPES["small"]
    kind, letters = MASKS[mask]
    arrays = make_inputs(
        b, h, sq, skv, d, dv, packed=packed, mask=(kind, mask_shape(letters, b, h, sq, skv))
    )
    extra = {"num_heads": h} if packed else {}
    check_kernel("attention", arrays, {**ATTRS[attrs], **extra}, **F32)


@pytest.mark.parametrize("block", [1, 7, 100, 5000])
@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
def test_ragged_blocks(monkeypatch: pytest.MonkeyPatch, block: int, packed: bool) -> None:
    monkeypatch.setattr(planned_attention, "SCORE_BLOCK", block)
    b, h, sq, skv = 3, 3, 23, 19
    arrays = make_inputs(b, h, sq, skv, 4, 5, packed=packed, mask=("f", (b, 1, sq, skv)))
    extra: dict[str, Any] = {"num_heads": h} if packed else {}
    check_kernel("attention", arrays, {"causal": True, "window": 6, **extra}, **F32)
    arrays[3] = arrays[3] > 0
    check_kernel("attention", arrays, {"window": 2, **extra}, **F32)


@pytest.mark.parametrize("case", list(hidden_row_cases()))
def test_rows_with_no_visible_key_are_nan(case: str) -> None:
    arrays, attrs = hidden_row_cases()[case]
    got = check_kernel("attention", arrays, attrs, **F32)[0]
    assert np.isnan(got).any() and not np.isnan(got).all()


@pytest.mark.parametrize("case", list(nonfinite_hidden_key_cases()))
def test_hidden_keys_with_nonfinite_scores_are_hidden_like_the_reference(case: str) -> None:
    arrays, attrs = nonfinite_hidden_key_cases()[case]
    with np.errstate(invalid="ignore"):
        got = check_kernel("attention", arrays, attrs, **F32)[0]
    assert np.isfinite(got).any() and not np.isfinite(got).all()  # both kinds of rows


@pytest.mark.parametrize("packed", [False, True], ids=["bnsh", "packed"])
def test_float16(packed: bool) -> None:
    arrays = make_inputs(2, 3, 33, 33, 16, 16, packed=packed, mask=("bool", (33, 33)), dtype="f2")
    attrs = {"causal": True, **({"num_heads": 3} if packed else {})}
    check_kernel("attention", arrays, attrs, rtol=1e-2, atol=4e-3)


def test_zoo_shapes_at_batch_32() -> None:
    # vit_tiny / pos_tagger: packed [32, 65, 64], 4 heads; banded_speech: a [S, S] bool band
    check_kernel(
        "attention",
        make_inputs(32, 4, 65, 65, 16, 16, packed=True),
        {"num_heads": 4, "scale": 0.25},
        **F32,
    )
    band = make_inputs(32, 4, 50, 50, 16, 16, packed=True)
    i = np.arange(50)
    band.append(np.abs(i[:, None] - i[None, :]) <= 8)
    check_kernel("attention", band, {"num_heads": 4, "scale": 0.25}, **F32)
