"""Hypothesis strategy ``random_graphs``: random *valid* graphs over (nearly) the whole op set.

Contract: every graph drawn here verifies, has one f32 input ``%x`` whose
leading dimension is the symbolic batch ``N`` (kept at axis 0 by every op, so
feeds may bind any N), small static trailing dimensions (rank 1-4), and
bounded values for inputs in [-2, 2] (see ``fuzz_builder``: no graph can
overflow f32, and threshold ops read only bit-exact values).

Ops covered (the generator of each in brackets):
- elementwise [elementwise_strategies]: relu, tanh, sigmoid, neg, abs, erf, gelu (both
  forms), silu, identity, exp, sqrt, log, reciprocal, clip (one- and two-sided), pow
  (integer and fractional exponents), add, sub, mul, div, maximum, minimum (broadcasting),
  greater, less, greater_equal, less_equal, equal, and, or, not, where, cast (f32 <-> f16,
  i64, i32, bool; integer add/sub/mul/div/maximum/neg/abs/reduce_sum in between), range
  (``range(N)``, a runtime size);
- data movement and reductions [shape_strategies]: reshape (with -1), transpose, flatten
  (any axis), squeeze, unsqueeze, concat (2-4 inputs, negative axis), split, slice (several
  axes, steps +-1..3, negative starts, ends past the end), expand, pad (constant, reflect,
  edge), gather (constant indices, negative ones, any index rank; ``argmax`` indices into
  a table), reduce_sum/mean/max/min (axes subsets, negative axes, keepdims), argmax;
- nn [nn_strategies]: conv2d and fused_conv2d (every activation; groups, depthwise,
  dilations, strides 1-3, asymmetric pads, NCHW and NHWC), max_pool2d and avg_pool2d
  (ceil_mode, count_include_pad, dilations for max, NCHW and NHWC), global_avg_pool2d,
  global_max_pool2d, batch_norm (any rank >= 2, NHWC), layer_norm (any trailing axes,
  broadcasting scale/bias, with or without them), softmax (any axis), matmul (weights,
  batched or vector weights, two computed values), linear (every activation);
- attention [attention_strategies]: the 4-D and packed (``num_heads``) forms, self and
  cross attention (Skv != Sq), Dv != D, default or given scale, causal, window, bool or
  additive masks (with -inf) broadcasting from any dims, data-dependent key-padding masks.

Not covered, and why:
- ``shape``: its output is [rank] i64, not a batch-first pool value; every static
  use folds away at O1. It is exercised by the importer's tests (runtime reshapes).
- ``argmin``: not an op of the IR (the brief's list named it; ONNX ArgMin imports as
  ``argmax`` of ``neg``).
- f16 arithmetic beyond exact ops (relu/neg/abs): its rounding differs legitimately
  between backends that compute f16 ops in f32 and those that do not.
- the batch axis is never reduced, sliced, padded or gathered (feeds bind any N, and
  graph outputs would then not depend on N in a checkable way); softmax and layer_norm
  over everything including the batch are not drawn either.
- empty dims: no generator makes a dim of length 0 (reductions over them are errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from nanograph.ir.graph import Graph, Value
from nanograph.ir.types import TensorType
from tests.fuzz import attention_strategies as att
from tests.fuzz import elementwise_strategies as ew
from tests.fuzz import nn_strategies as nn
from tests.fuzz import shape_strategies as sh
from tests.fuzz.fuzz_builder import Builder, static_dims

Generator = Callable[[Builder, Value, list[Value]], Value]

GENERATORS: dict[str, tuple[Generator, int]] = {
    # name: (generator, least rank of the value it takes); unary and binary are drawn
    # three times as often (UNARY_WEIGHT): they hold the most ops
    "unary": (ew.gen_unary, 1),
    "binary": (ew.gen_binary, 1),
    "where": (ew.gen_where, 1),
    "cast": (ew.gen_cast, 1),
    "range": (ew.gen_range, 1),
    "transpose": (sh.gen_transpose, 3),
    "reshape": (sh.gen_reshape, 1),
    "flatten": (sh.gen_flatten, 2),
    "squeeze": (sh.gen_squeeze, 1),
    "concat": (sh.gen_concat, 2),
    "split": (sh.gen_split, 2),
    "slice": (sh.gen_slice, 2),
    "expand": (sh.gen_expand, 1),
    "pad": (sh.gen_pad, 1),
    "gather": (sh.gen_gather, 2),
    "reduce": (sh.gen_reduce, 2),
    "argmax": (sh.gen_argmax, 2),
    "batch_norm": (nn.gen_batch_norm, 2),
    "layer_norm": (nn.gen_layer_norm, 2),
    "softmax": (nn.gen_softmax, 1),
    "matmul": (nn.gen_matmul, 2),
    "attention": (att.gen_attention, 2),
}
IMAGE_GENERATORS: dict[str, Generator] = {"conv": nn.gen_conv, "pool": nn.gen_pool}
"""Generators for rank-4 values only (drawn three times as often on them)."""
UNARY_WEIGHT = 3

MAX_ELEMENTS = 512
"""Values bigger than this leave the pool (keeps graphs fast; expand and concat grow)."""


def _input_shape(draw: Any) -> list[int]:
    if draw(st.booleans()):  # an image [C, H, W]
        return [draw(st.integers(1, 4)), draw(st.integers(2, 6)), draw(st.integers(2, 6))]
    return draw(st.lists(st.integers(1, 5), min_size=0, max_size=3))


def _small(v: Value) -> bool:
    n = 3  # the largest N the tests bind
    for d in static_dims(v):
        n *= d
    return n <= MAX_ELEMENTS


@st.composite
def random_graphs(draw: Any, max_ops: int = 10) -> Graph:
    """A random valid graph: up to ``max_ops`` generator steps over a growing pool."""
    g = Graph("fuzz")
    x = g.add_input("x", TensorType.of("f32", ["N", *_input_shape(draw)]))
    b = Builder(g, draw)
    pool = [x]
    for _ in range(draw(st.integers(1, max_ops))):
        v = draw(st.sampled_from(pool))
        kinds = [k for k, (_, rank) in GENERATORS.items() if v.type.rank >= rank]
        kinds += ["unary", "binary"] * (UNARY_WEIGHT - 1)
        if v.type.rank == 4:
            kinds += [*IMAGE_GENERATORS] * 3
        kind = draw(st.sampled_from(kinds))
        gen = IMAGE_GENERATORS[kind] if kind in IMAGE_GENERATORS else GENERATORS[kind][0]
        out = gen(b, v, pool)
        if out is not v and out not in pool:
            pool.append(out)
        pool[:] = [p for p in pool if p is x or _small(p)]
    _set_outputs(g, draw, pool, x)
    return g


def _set_outputs(g: Graph, draw: Any, pool: list[Value], x: Value) -> None:
    computed = [v for v in pool if v is not x]
    if not computed:
        computed = [g.add("relu", [x]).output]
    extra = draw(st.lists(st.sampled_from(computed), max_size=2))
    g.outputs = list(dict.fromkeys([computed[-1], *extra]))
