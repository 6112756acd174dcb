"""Which activation a node applies, in the vocabulary of the fused ops' ``activation`` attr.

``linear`` and ``fused_conv2d`` absorb the same activations
(``nanograph.ir.ops.fused.ACTIVATIONS``): relu, relu6, gelu, gelu_tanh, silu,
sigmoid and tanh. A ``clip`` is relu6 with bounds (0, 6) and relu with
bounds (0, inf); with other bounds it is no fusable activation. ONNX has no
SiLU, so it comes as ``y * sigmoid(y)``: fusing that takes ``y`` twice, and
``feeds_only_its_silu`` checks that nothing else does.
"""

from __future__ import annotations

import math

from nanograph.ir.graph import Node
from nanograph.passes.pattern import Match
from nanograph.passes.rewriter import Check

# The ops that can be a fusable activation (clip only with the bounds above).
ACTIVATION_OPS = ("relu", "clip", "gelu", "silu", "sigmoid", "tanh")


def activation_of(node: Node) -> str | None:
    """The fused-op activation ``node`` computes, or None (another op, or a clip with
    other bounds)."""
    if node.op == "clip":
        bounds = (node.attrs["min"], node.attrs["max"])
        return {(0.0, 6.0): "relu6", (0.0, math.inf): "relu"}.get(bounds)
    if node.op == "gelu":
        return "gelu_tanh" if node.attrs["approximate"] == "tanh" else "gelu"
    return node.op if node.op in ACTIVATION_OPS else None


def feeds_only_its_silu(capture: str) -> Check:
    """A check for ``y * sigmoid(y)`` with ``y`` captured as ``capture``: ``y`` has no uses
    but the mul and the sigmoid (a graph output counts as a use), since fusing the silu
    into ``y``'s producer would otherwise compute ``y`` twice."""

    def check(m: Match) -> str | None:
        y, graph = m[capture], m.root.graph
        uses = y.num_uses + sum(1 for o in (graph.outputs if graph else ()) if o is y)
        if uses == 2:  # the mul and the sigmoid
            return None
        return (
            f"%{y.name} ({m.node(capture).op}) is also used elsewhere ({uses} uses), "
            "so fusing it would compute it twice"
        )

    return check


__all__ = ["ACTIVATION_OPS", "activation_of", "feeds_only_its_silu"]
