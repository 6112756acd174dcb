"""``conv2d`` and ``fused_conv2d`` executor kernels against the reference, every strategy
that applies (pointwise, depthwise, rows, im2col) forced in turn as well as the planned
one, over strides, pads (asymmetric), dilations, groups, NCHW/NHWC, activations,
zoo shapes and blocks of images.

Tolerance: rtol 1e-5, atol 1e-5. Weights are scaled by 1/sqrt(fan-in), as in a
trained net, so outputs are O(1); the kernels sum the length-K products
(K = cg*kh*kw <= 576 here) in float32 in another order than the float64
reference, an error of about sqrt(K) float32 ulps: 2.9e-6 at worst measured,
while a missing or misplaced tap moves outputs by O(0.1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from nanograph.backends.planned.kernels import conv_geometry as geometry_module
from nanograph.backends.planned.kernels.conv import run_conv, scratch_bytes
from nanograph.backends.planned.kernels.conv_geometry import applicable_strategies, conv_geometry
from nanograph.ir.ops import get_op
from nanograph.ir.ops.fused import ACTIVATIONS
from tests.backends.planned.test_kernels_harness import check_kernel

TOL = {"rtol": 1e-5, "atol": 1e-5}
# (C, H, W, O, kernel, strides, pads [t, l, b, r], dilations, groups)
CONFIGS = [
    (16, 9, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (16, 9, 7, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (3, 9, 11, 8, (3, 2), (2, 1), (1, 0, 2, 1), (1, 2), 1),
    (5, 10, 9, 4, (3, 3), (1, 1), (0, 2, 1, 0), (2, 1), 1),
    (1, 12, 12, 6, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (6, 8, 8, 16, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (8, 9, 7, 12, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (8, 9, 7, 12, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),
    (8, 9, 7, 12, (1, 1), (1, 2), (1, 0, 0, 1), (1, 1), 1),
    (3, 16, 16, 8, (4, 4), (4, 4), (0, 0, 0, 0), (1, 1), 1),
    (8, 9, 7, 12, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),
    (8, 9, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8),
    (8, 9, 7, 8, (3, 3), (2, 2), (0, 1, 2, 1), (1, 2), 8),
    (4, 7, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4),
    (3, 2, 2, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (4, 8, 8, 4, (3, 3), (3, 2), (1, 1, 2, 2), (1, 1), 1),
]


def _inputs(
    rng: np.random.Generator, layout: str, n: int, config: tuple, bias: bool = True
) -> list[np.ndarray]:
    c, h, w, o, (kh, kw), *_, groups = config
    x_shape = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
    w_shape = (o, c // groups, kh, kw) if layout == "NCHW" else (o, kh, kw, c // groups)
    x = rng.standard_normal(x_shape).astype(np.float32)
    weight = (rng.standard_normal(w_shape) / math.sqrt(c // groups * kh * kw)).astype(np.float32)
    return [x, weight, rng.standard_normal(o).astype(np.float32)] if bias else [x, weight]


def _attrs(layout: str, config: tuple, activation: str = "none") -> dict[str, Any]:
    *_, strides, pads, dilations, groups = config
    return {
        "layout": layout,
        "strides": strides,
        "pads": pads,
        "dilations": dilations,
        "groups": groups,
        "activation": activation,
    }


def _check_strategy(inputs: list[np.ndarray], attrs: dict[str, Any], strategy: str) -> None:
    op = get_op("fused_conv2d")
    norm = op.make_attrs(attrs)
    want = op.reference(inputs, norm)[0]
    g = conv_geometry(inputs[0].shape, inputs[1].shape, norm, 4, strategy)
    workspace = np.full(scratch_bytes(g, attrs["activation"]), 0xFF, np.uint8)
    out = np.full(want.shape, np.nan, np.float32)
    run_conv(inputs, norm, [out], workspace, g)
    np.testing.assert_allclose(out, want, err_msg=f"{strategy} {attrs}", **TOL)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_strategy_matches_the_reference(layout: str, config: tuple) -> None:
    rng = np.random.default_rng(0)
    inputs = _inputs(rng, layout, 3, config)
    attrs = _attrs(layout, config)
    check_kernel("conv2d", inputs, {k: v for k, v in attrs.items() if k != "activation"}, **TOL)
    check_kernel("conv2d", inputs[:2], {k: v for k, v in attrs.items() if k != "activation"}, **TOL)
    g = conv_geometry(inputs[0].shape, inputs[1].shape, get_op("fused_conv2d").make_attrs(attrs))
    for strategy in applicable_strategies(g):
        _check_strategy(inputs, attrs, strategy)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_fused_activations(activation: str, layout: str) -> None:
    rng = np.random.default_rng(1)
    for config in (CONFIGS[0], CONFIGS[1], CONFIGS[7], CONFIGS[11]):
        check_kernel(
            "fused_conv2d",
            _inputs(rng, layout, 2, config),
            _attrs(layout, config, activation),
            **TOL,
        )


def test_planned_strategies() -> None:
    norm = get_op("conv2d").make_attrs
    cases = {
        "pointwise": ((2, 8, 9, 7), (12, 8, 1, 1), {"strides": (2, 2)}),
        "depthwise": ((2, 8, 9, 7), (8, 1, 3, 3), {"groups": 8, "pads": (1, 1, 1, 1)}),
        "rows": ((2, 8, 9, 7), (12, 8, 3, 3), {"pads": (1, 1, 1, 1)}),
        "im2col": ((2, 8, 9, 7), (12, 8, 3, 3), {"strides": (2, 2)}),
    }
    for strategy, (x, w, attrs) in cases.items():
        assert conv_geometry(x, w, norm(attrs)).strategy == strategy


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_zoo_shapes_over_several_image_blocks(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # small blocks, so that 5 images take several blocks, the last one short
    monkeypatch.setattr(geometry_module, "BLOCK_BYTES", 2**15)
    conv_geometry.cache_clear()
    rng = np.random.default_rng(2)
    layers = [  # lenet conv1/conv2, resnet stem, body, downsampling, 1x1 shortcut
        (1, 28, 28, 6, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
        (6, 14, 14, 16, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),
        (3, 32, 32, 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
        (32, 16, 16, 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
        (32, 16, 16, 64, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
        (16, 32, 32, 32, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),
    ]
    try:
        for config in layers:
            inputs, attrs = _inputs(rng, layout, 5, config), _attrs(layout, config, "relu")
            g = conv_geometry(
                inputs[0].shape, inputs[1].shape, get_op("fused_conv2d").make_attrs(attrs)
            )
            assert g.images < 5
            check_kernel("fused_conv2d", inputs, attrs, **TOL)
    finally:
        conv_geometry.cache_clear()


def test_workspace_is_bounded_by_the_block_not_the_batch() -> None:
    from nanograph.backends.planned.kernels import EXECUTOR_KERNELS
    from nanograph.ir.types import TensorType

    kernel = EXECUTOR_KERNELS["fused_conv2d"]
    attrs = get_op("fused_conv2d").make_attrs({"pads": (1, 1, 1, 1), "activation": "gelu"})
    sizes = []
    for n in (64, 256):
        x, w = TensorType.of("f32", (n, 16, 32, 32)), TensorType.of("f32", (16, 16, 3, 3))
        sizes.append(kernel.workspace_bytes([x, w], [x], attrs))
    assert sizes[0] == sizes[1] <= 2 * geometry_module.BLOCK_BYTES


def test_float16_runs_the_reference() -> None:
    rng = np.random.default_rng(3)
    inputs = [x.astype(np.float16) for x in _inputs(rng, "NCHW", 2, CONFIGS[0])]
    check_kernel("fused_conv2d", inputs, _attrs("NCHW", CONFIGS[0], "relu"), rtol=0, atol=0)
