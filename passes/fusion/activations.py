"""Which activation a node applies, in the vocabulary of the fused ops' ``activation`` attr.

``linear`` and ``fused_conv2d`` absorb the same activations
(``nanograph.ir.ops.fused.ACTIVATIONS``): relu, relu6, gelu, gelu_tanh, silu,
sigmoid and tanh. A ``clip`` is relu6 with bounds (0, 6) and relu with
bounds (0, inf); with other bounds it is no fusable activation.
"""

from __future__ import annotations

import math

from nanograph.ir.graph import Node

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


__all__ = ["ACTIVATION_OPS", "activation_of"]
