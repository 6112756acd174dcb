"""Synthetic graphs of an exact node count, for compile-time scaling benchmarks.

``synthetic_graph(nodes, seed)`` builds, through ``Graph.add`` (no tracing),
a verified graph of exactly ``nodes`` nodes whose shape follows the models
nanograph is for: two streams that run side by side and meet in a head.

- an image stream ``image: f32[N,8,8,8]`` (NCHW),
- a token stream ``tokens: f32[N,8,16]`` (8 tokens of width 16, 2 heads),

with the symbolic batch dim ``N`` in every type and in every reshape's
target shape, so ``specialize`` has work. The body is a seeded random
sequence of blocks, each written from core ops the way the DSL traces them:

- ``conv`` (image, 4 nodes): conv2d (bias, pads 1), relu, max_pool2d (3x3,
  stride 1), residual add;
- ``mlp`` (tokens, 6): matmul, add (bias), gelu, matmul, add (bias),
  residual add;
- ``attention`` (tokens, 17): three times matmul, reshape to heads,
  transpose; matmul (q k^T), mul (the scale), softmax, matmul (@ v),
  transpose, reshape, matmul (output projection), residual add;
- ``norm`` (tokens, 1): layer_norm with scale and bias;
- ``position`` (tokens, 1): add of one shared position table, so one
  constant's fan-out grows with the graph.

Blocks are drawn with the weights in ``BLOCK_WEIGHTS``; once fewer nodes are
left than a block needs, only blocks that fit are drawn, and the one-node
blocks make the count exact. The head (6 nodes) pools the image stream
(global_avg_pool2d, flatten), averages the tokens (reduce_mean), joins them
(concat) and classifies (matmul, add). Constants are small (at most 576
elements) and seeded; the attention scale is one shared scalar, as exporters
share them. Names follow the tracer: ``b12.matmul`` inside block 12, while the
residual adds sit at the root scope (``add``, ``add_1``, ...), as in a model
whose ``forward`` loops ``x = x + block(x)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nanograph.ir.graph import Graph, Value
from nanograph.ir.types import DType, TensorType

CHANNELS, SIDE = 8, 8
TOKENS, WIDTH, HEADS = 8, 16, 2
HIDDEN = 2 * WIDTH
HEAD_NODES = 6
MIN_NODES = HEAD_NODES + 1
BLOCK_WEIGHTS: dict[str, float] = {
    "conv": 0.3,
    "mlp": 0.25,
    "attention": 0.2,
    "norm": 0.15,
    "position": 0.1,
}
BLOCK_NODES: dict[str, int] = {"conv": 4, "mlp": 6, "attention": 17, "norm": 1, "position": 1}


class _Builder:
    """Appends blocks to one graph; ``image`` and ``tokens`` are the streams' last values."""

    def __init__(self, name: str, seed: int) -> None:
        self.graph = Graph(name)
        self.rng = np.random.default_rng(seed)
        f32 = DType.f32
        self.image = self.graph.add_input("image", TensorType.of(f32, ("N", CHANNELS, SIDE, SIDE)))
        self.tokens = self.graph.add_input("tokens", TensorType.of(f32, ("N", TOKENS, WIDTH)))
        self.scale = self.graph.add_constant(
            "attention.scale", np.array((WIDTH // HEADS) ** -0.5, np.float32)
        )
        table = self.rng.standard_normal((TOKENS, WIDTH)).astype(np.float32)
        self.position = self.graph.add_constant("position", table)
        self.scope = ""

    def const(self, name: str, *shape: int) -> Value:
        array = (0.1 * self.rng.standard_normal(shape)).astype(np.float32)
        return self.graph.add_constant(self.graph.unique_name(f"{self.scope}.{name}"), array)

    def op(self, op: str, *inputs: Value, root: bool = False, **attrs: object) -> Value:
        name = op if root else f"{self.scope}.{op}"
        return self.graph.add(op, list(inputs), attrs, names=[name]).output

    def conv(self) -> None:
        x = self.image
        w = self.const("conv.weight", CHANNELS, CHANNELS, 3, 3)
        y = self.op("conv2d", x, w, self.const("conv.bias", CHANNELS), pads=[1, 1, 1, 1])
        y = self.op("relu", y)
        y = self.op("max_pool2d", y, kernel=[3, 3], pads=[1, 1, 1, 1])
        self.image = self.op("add", x, y, root=True)

    def mlp(self) -> None:
        x = self.tokens
        h = self.op("matmul", x, self.const("fc1.weight", WIDTH, HIDDEN))
        h = self.op("gelu", self.op("add", h, self.const("fc1.bias", HIDDEN)))
        h = self.op("matmul", h, self.const("fc2.weight", HIDDEN, WIDTH))
        h = self.op("add", h, self.const("fc2.bias", WIDTH))
        self.tokens = self.op("add", x, h, root=True)

    def heads(self, x: Value, name: str, perm: list[int]) -> Value:
        """Project ``x`` and split it into heads: [N,S,D] -> [N,H,S,D/H] permuted by ``perm``."""
        y = self.op("matmul", x, self.const(f"{name}.weight", WIDTH, WIDTH))
        y = self.op("reshape", y, shape=["N", TOKENS, HEADS, WIDTH // HEADS])
        return self.op("transpose", y, perm=perm)

    def attention(self) -> None:
        x = self.tokens
        q = self.heads(x, "q", [0, 2, 1, 3])
        k = self.heads(x, "k", [0, 2, 3, 1])
        v = self.heads(x, "v", [0, 2, 1, 3])
        scores = self.op("mul", self.op("matmul", q, k), self.scale)
        o = self.op("matmul", self.op("softmax", scores, axis=-1), v)
        o = self.op("transpose", o, perm=[0, 2, 1, 3])
        o = self.op("reshape", o, shape=["N", TOKENS, WIDTH])
        o = self.op("matmul", o, self.const("out.weight", WIDTH, WIDTH))
        self.tokens = self.op("add", x, o, root=True)

    def norm(self) -> None:
        scale, bias = self.const("norm.scale", WIDTH), self.const("norm.bias", WIDTH)
        self.tokens = self.op("layer_norm", self.tokens, scale, bias)

    def position_add(self) -> None:
        self.tokens = self.op("add", self.tokens, self.position)

    def head(self) -> None:
        self.scope = "head"
        pooled = self.op("flatten", self.op("global_avg_pool2d", self.image), axis=1)
        mean = self.op("reduce_mean", self.tokens, axes=[1])
        joined = self.op("concat", pooled, mean, axis=1)
        y = self.op("matmul", joined, self.const("weight", CHANNELS + WIDTH, 10))
        self.graph.outputs = [self.op("add", y, self.const("bias", 10))]


def synthetic_graph(nodes: int, seed: int = 0, name: str = "synthetic") -> Graph:
    """A graph of exactly ``nodes`` nodes (see the module docstring), the same for a seed.

    Raises ``ValueError`` below ``MIN_NODES``. The graph verifies; its only
    symbol is ``N``; its constants hold data, so every backend can build it.
    """
    if nodes < MIN_NODES:
        raise ValueError(f"a synthetic graph needs at least {MIN_NODES} nodes, got {nodes}")
    builder = _Builder(name, seed)
    blocks: dict[str, Callable[[], None]] = {
        "conv": builder.conv,
        "mlp": builder.mlp,
        "attention": builder.attention,
        "norm": builder.norm,
        "position": builder.position_add,
    }
    left, index = nodes - HEAD_NODES, 0
    while left > 0:
        fits = [kind for kind in BLOCK_WEIGHTS if BLOCK_NODES[kind] <= left]
        weights = np.array([BLOCK_WEIGHTS[kind] for kind in fits])
        kind = fits[int(builder.rng.choice(len(fits), p=weights / weights.sum()))]
        builder.scope = f"b{index}"
        blocks[kind]()
        left -= BLOCK_NODES[kind]
        index += 1
    builder.head()
    return builder.graph


def op_mix(graph: Graph) -> dict[str, int]:
    """How many nodes of each op ``graph`` has, most common first (ties by name)."""
    counts: dict[str, int] = {}
    for node in graph.nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


__all__ = ["BLOCK_NODES", "BLOCK_WEIGHTS", "MIN_NODES", "op_mix", "synthetic_graph"]
