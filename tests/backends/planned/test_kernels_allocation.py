"""Kernels allocate nothing that grows with the batch: the bytes tracemalloc traces during
a steady-state call (after a warm-up call) must be the same at batch 32 as at batch 1,
within ``SLACK`` bytes, and small.

NumPy reports its array buffers to tracemalloc, so a temporary the size of a
batch-32 activation (hundreds of KB here) would show; what remains is the
bookkeeping of views and small per-call objects, the same at every batch.
Measured with NumPy's iterator buffer at ``BUFSIZE`` elements: a broadcasting
ufunc (``out += bias``) allocates iterator buffers of up to ``np.getbufsize()``
elements per call (17 KB at batch 1, 34 KB from batch 32 up with the default
8192), which would read as growth without any array being allocated (the
executor's tests measure the same way). The fallbacks that run a reference
(float16, integer division, reflect padding) are not covered: they allocate by
design (``reference_copy.py``).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nanograph.backends.planned.kernels import EXECUTOR_KERNELS
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType, TensorType

BUFSIZE = 64
SLACK = 1024
"""Bytes the traced peak may differ by between batch 1 and 32 (a few view objects)."""
CEILING = 16384
"""Bytes a call may trace at all: far below any batch-32 tensor here (>= 200 KB)."""

Make = Callable[[np.random.Generator, int], list[np.ndarray]]


def _f(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.standard_normal(shape).astype(np.float32)


def _conv(c: int, h: int, o: int, k: int, layout: str, groups: int = 1) -> Make:
    def make(rng: np.random.Generator, n: int) -> list[np.ndarray]:
        x = (n, c, h, h) if layout == "NCHW" else (n, h, h, c)
        w = (o, c // groups, k, k) if layout == "NCHW" else (o, k, k, c // groups)
        return [_f(*x)(rng), _f(*w)(rng) * 0.1, _f(o)(rng)]

    return make


def _tokens(*shape: int, count: int = 1) -> Make:
    return lambda rng, n: [_f(n, *shape)(rng) for _ in range(count)]


def _banded(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    i = np.arange(40)
    return [*_tokens(40, 64, count=3)(rng, n), np.abs(i[:, None] - i[None, :]) <= 8]


CASES: list[tuple[str, str, Make, dict[str, Any]]] = []
for _layout in ("NCHW", "NHWC"):
    _conv_attrs = {"layout": _layout, "activation": "relu"}
    CASES += [
        (
            f"lenet1 {_layout}",
            "fused_conv2d",
            _conv(1, 28, 6, 5, _layout),
            {**_conv_attrs, "pads": (2,) * 4},
        ),
        (
            f"rows {_layout}",
            "fused_conv2d",
            _conv(16, 32, 16, 3, _layout),
            {**_conv_attrs, "pads": (1,) * 4},
        ),
        (
            f"im2col {_layout}",
            "fused_conv2d",
            _conv(16, 32, 32, 3, _layout),
            {**_conv_attrs, "pads": (1,) * 4, "strides": (2, 2), "activation": "gelu"},
        ),
        (
            f"pointwise {_layout}",
            "conv2d",
            _conv(16, 32, 32, 1, _layout),
            {"layout": _layout, "strides": (2, 2)},
        ),
        (
            f"depthwise {_layout}",
            "conv2d",
            _conv(16, 16, 16, 3, _layout, 16),
            {"layout": _layout, "groups": 16, "pads": (1,) * 4},
        ),
    ]
CASES += [
    (
        "linear gelu",
        "linear",
        lambda r, n: [_f(n, 65, 64)(r), _f(64, 128)(r), _f(128)(r)],
        {"activation": "gelu"},
    ),
    (
        "linear silu",
        "linear",
        lambda r, n: [_f(n, 65, 64)(r), _f(64, 128)(r)],
        {"activation": "silu"},
    ),
    ("matmul", "matmul", lambda r, n: [_f(n, 4, 65, 16)(r), _f(n, 4, 16, 65)(r)], {}),
    ("layer_norm", "layer_norm", lambda r, n: [_f(n, 65, 64)(r), _f(64)(r), _f(64)(r)], {}),
    ("softmax", "softmax", _tokens(4, 65, 65), {}),
    (
        "batch_norm",
        "batch_norm",
        lambda r, n: [_f(n, 16, 8, 8)(r), *(_f(16)(r) ** 2 for _ in range(4))],
        {},
    ),
    ("gelu", "gelu", _tokens(65, 128), {}),
    ("gelu tanh", "gelu", _tokens(65, 128), {"approximate": "tanh"}),
    ("erf", "erf", _tokens(65, 128), {}),
    ("silu", "silu", _tokens(65, 128), {}),
    ("sigmoid", "sigmoid", _tokens(65, 128), {}),
    ("add", "add", lambda r, n: [_f(n, 65, 64)(r), _f(64)(r)], {}),
    ("max_pool", "max_pool2d", _tokens(6, 28, 28), {"kernel": (2, 2), "strides": (2, 2)}),
    ("avg_pool", "avg_pool2d", _tokens(6, 28, 28), {"kernel": (3, 3), "pads": (1,) * 4}),
    ("global_avg_pool", "global_avg_pool2d", _tokens(64, 8, 8), {}),
    ("attention", "attention", _tokens(65, 64, count=3), {"num_heads": 4}),
    ("attention band", "attention", _banded, {"num_heads": 4}),
    ("attention causal", "attention", _tokens(40, 64, count=3), {"num_heads": 4, "causal": True}),
    ("transpose", "transpose", _tokens(64, 8, 8), {"perm": (0, 2, 3, 1)}),
    ("concat", "concat", _tokens(16, 64, count=2), {"axis": 1}),
    ("split", "split", _tokens(65, 192), {"axis": -1, "sizes": (64, 64, 64)}),
    ("slice", "slice", _tokens(65, 64), {"starts": (0,), "ends": (1,), "axes": (1,)}),
    ("where", "where", lambda r, n: [_f(40, 40)(r) > 0, *_tokens(4, 40, 40, count=2)(r, n)], {}),
    ("gather", "gather", lambda r, n: [_f(1000, 64)(r), r.integers(0, 1000, (n, 65))], {}),
    ("cast", "cast", _tokens(65, 64), {"to": "f16"}),
    ("pad", "pad", _tokens(3, 8), {"pads": (0, 1, 1, 0, 1, 1)}),
    ("reduce_mean", "reduce_mean", _tokens(65, 64), {"axes": (1,)}),
]


def _traced_call(op: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> int:
    opdef = get_op(op)
    norm = opdef.make_attrs(attrs)
    kernel = EXECUTOR_KERNELS[op]
    types = [TensorType(DType.parse(x.dtype), x.shape) for x in inputs]
    out_types = opdef.infer(types, norm)
    outs = [np.empty(tuple(int(d) for d in t.shape), t.dtype.numpy) for t in out_types]
    nbytes = kernel.workspace_bytes(types, out_types, norm)
    workspace = np.empty(nbytes, np.uint8) if nbytes else None
    old = np.setbufsize(BUFSIZE)
    try:
        kernel.run(inputs, norm, outs, workspace)  # warm-up: caches, lazily built plans
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        kernel.run(inputs, norm, outs, workspace)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        np.setbufsize(old)


@pytest.mark.parametrize(("name", "op", "make", "attrs"), CASES, ids=[c[0] for c in CASES])
def test_traced_bytes_do_not_grow_with_the_batch(
    name: str, op: str, make: Make, attrs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(0)
    small = _traced_call(op, make(rng, 1), attrs)
    large = _traced_call(op, make(rng, 32), attrs)
    assert large <= small + SLACK, f"{name}: {small} B at batch 1, {large} B at batch 32"
    assert large <= CEILING, f"{name}: {large} B traced at batch 32"


def test_a_batch_sized_temporary_would_be_seen() -> None:
    x = np.ones((32, 65, 64), np.float32)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _ = x * 2
        assert tracemalloc.get_traced_memory()[1] - base >= x.nbytes
    finally:
        tracemalloc.stop()
