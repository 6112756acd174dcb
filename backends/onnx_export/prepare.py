"""The IR-level half of lowering: a verified private copy with fused ops made exportable.

``prepare_graph(graph, opset, attention)`` returns a copy of ``graph`` (the
caller's graph is never changed) in which:

- ``linear`` is rewritten by ``linear.prepare_linear`` (a 2-D ``linear`` that
  lowers to ``Gemm``, then its activation, between reshapes; or its decomposition);
- ``fused_conv2d`` is replaced by its decomposition (``Conv``/activation is what
  ONNX has);
- ``attention`` is decomposed for ``plain``, or rewritten by
  ``attention.prepare_attention`` for ``onnx``/``ms``.

Every other node is left as it is; the per-family tables lower them 1:1 or
nearly. ``attention_summary`` words what happened for reports and metadata.
"""

from __future__ import annotations

from nanograph.backends.onnx_export.attention import prepare_attention
from nanograph.backends.onnx_export.linear import prepare_linear
from nanograph.ir.decompose import expand_fused
from nanograph.ir.graph import Graph
from nanograph.ir.verify import verify

ALWAYS_EXPANDED = ("fused_conv2d",)
ATTENTION_TARGETS = {
    "onnx": "ONNX Attention",
    "ms": "com.microsoft.MultiHeadAttention",
    "plain": "plain ops (MatMul, Softmax, Where)",
}


def prepare_graph(graph: Graph, opset: int, attention: str) -> Graph:
    """A verified copy of ``graph`` with fused ops expanded or prepared for ``attention``."""
    work = graph.copy()
    verify(work)
    for node in list(work.nodes):
        if node.op in ALWAYS_EXPANDED or (node.op == "attention" and attention == "plain"):
            expand_fused(work, node)
        elif node.op == "linear":
            prepare_linear(work, node)
        elif node.op == "attention":
            prepare_attention(work, node, attention, opset)
    return work


def attention_summary(graph: Graph, attention: str) -> str:
    """How ``graph``'s attention nodes are lowered, in words (e.g. for the CLI)."""
    count = sum(1 for node in graph.nodes if node.op == "attention")
    if count == 0:
        return (
            f"no attention nodes (attention={attention} would use {ATTENTION_TARGETS[attention]})"
        )
    nodes = "node" if count == 1 else "nodes"
    return f"{count} attention {nodes} -> {ATTENTION_TARGETS[attention]} (attention={attention})"


__all__ = ["ALWAYS_EXPANDED", "ATTENTION_TARGETS", "attention_summary", "prepare_graph"]
