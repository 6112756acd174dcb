"""Lowering ``linear`` (act(x @ w + b)): ONNX ``Gemm`` on rows, then the activation.

``prepare_linear(graph, node)`` (IR level, called by ``prepare_graph``) rewrites a
``linear`` that has a bias:

- x [M, K]: ``linear(x, w, b)`` with no activation, then the activation as its own op;
- x [..., K] of rank >= 3 whose leading dims hold at most one symbol: ``reshape`` x to
  [M, K] (M = the leading dims' product; ONNX ``-1``), the 2-D linear and activation
  above, and ``reshape`` back to [..., N] (the one symbol becomes ``-1``), so no shape
  is computed at run time. Where x is itself such a reshape of rows [M, K] (a
  previous linear's output), those rows are used directly, and the reshape is removed
  if nothing else uses it;
- a linear whose only use is a ``split`` of its last axis into static sizes, with
  constant weight and bias (the fused q/k/v projection of ``fuse-qkv``), becomes one
  2-D linear per part, on the columns of w and b that part reads (constants named
  ``{part}.weight`` / ``{part}.bias``), sharing the rows of x; the split is gone.

Every other ``linear`` (no bias, rank 1, two or more symbolic leading dims, a
zero-sized or symbolic feature dim) is replaced by its decomposition (MatMul, Add,
activation), as before. ``lower_linear(ctx, node)`` writes a prepared 2-D linear as
``Gemm(x, w, b)`` (alpha = beta = 1, no transposes: exactly x @ w + b, b broadcast
over rows); any other ``linear`` reaching it is an ``InternalError``.

Why (onnxruntime 1.32 on CPU; found with ``benchmarks/ort_node_profile.py``, measured
with ``benchmarks/ort_vs_torch_export.py``, figures in BENCHMARKS.md):

- onnxruntime fuses MatMul + Add into Gemm only where it can see the whole shape
  (``MatMulAddFusion``: 2-D, or N-D with no symbolic dim), so with a symbolic batch the
  bias of every 3-D linear was its own Add: a second pass over the output;
- with the activation right after the Gemm, onnxruntime runs both as one ``FusedGemm``
  (Relu, Sigmoid, Tanh, ...);
- the ``Split`` after a fused q/k/v projection copies its whole output; three Gemms on
  the same rows cost less than one Gemm and that copy (d_model 64: 1-6% of the whole
  transformer zoo models' time, at batch 1 and 32).

The reshapes are views in onnxruntime (no copy). With ``Sum`` before a layer norm
(``lower_elementwise``), these took onnxruntime on pos_tagger's O2 export at batch 32,
1 thread, from 4.5 to 2.9 ms (PyTorch's own export: 4.1 ms, same run); the Gemm
rows alone 3.5 -> 3.1 ms, one Gemm per q/k/v part 3.1 -> 2.9 ms.
"""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.backends.onnx_export.context import ExportContext
from nanograph.ir.decompose import GraphEmitter, expand_fused, replace_node
from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops.fused import apply_activation


def prepare_linear(graph: Graph, node: Node) -> None:
    """Rewrite ``node`` (a ``linear``) as the module docstring says."""
    x = node.inputs[0]
    shape = x.type.shape
    if not _as_rows(node):
        expand_fused(graph, node)
        return
    em = GraphEmitter(graph, node)
    rows = _rows_of(x) if len(shape) > 2 else x
    rows = rows or em.op("reshape", x, shape=(-1, shape[-1]))
    split = _split_by_columns(graph, node)
    if split is None:
        replace_node(graph, node, [_row_linear(em, rows, node.inputs[1:], node)])
    else:
        parts = _column_parts(graph, node, split)
        replace_node(graph, split, [_row_linear(em, rows, part, node) for part in parts])
        graph.remove(node)
    unrolled = x.producer
    kept = x.uses or any(x is o for o in graph.outputs)
    if unrolled is not None and unrolled.op == "reshape" and not kept:
        graph.remove(unrolled)


def _row_linear(em: GraphEmitter, rows: Value, params: Sequence[Value], node: Node) -> Value:
    """act(rows @ w + b) on rows [M, K], reshaped back to ``node``'s leading dims."""
    y = em.op("linear", rows, *params)
    y = apply_activation(em, y, node.attrs["activation"])
    shape = node.inputs[0].type.shape
    if len(shape) > 2:
        y = em.op("reshape", y, shape=(*shape[:-1], params[0].type.shape[1]))
    return y


def _split_by_columns(graph: Graph, node: Node) -> Node | None:
    """The ``split`` that is the only use of ``node``'s output (not a graph output either),
    cutting its last axis into static sizes, when ``node``'s weight and bias are constants;
    else ``None``."""
    uses = node.output.uses
    if len(uses) != 1 or any(node.output is o for o in graph.outputs):
        return None
    if not all(v.is_const for v in node.inputs[1:]):
        return None
    split = uses[0][0]
    rank = node.output.type.rank
    if split.op != "split" or split.attrs["axis"] % rank != rank - 1:
        return None
    return split if all(isinstance(d, int) for d in split.attrs["sizes"]) else None


def _column_parts(graph: Graph, node: Node, split: Node) -> list[tuple[Value, Value]]:
    """(w[:, cols], b[cols]) per output of ``split``, as constants named after that output."""
    w, b = (v.const for v in node.inputs[1:])
    assert w is not None and b is not None  # _split_by_columns checked they are constants
    parts, start = [], 0
    for size, out in zip(split.attrs["sizes"], split.outputs, strict=True):
        cols = slice(start, start + size)
        weight = graph.add_constant(graph.unique_name(f"{out.name}.weight"), w[:, cols].copy())
        bias = graph.add_constant(graph.unique_name(f"{out.name}.bias"), b[cols].copy())
        parts.append((weight, bias))
        start += size
    return parts


def _rows_of(x: Value) -> Value | None:
    """The 2-D [M, K] value ``x`` was reshaped from, if it was (the rows of a previous linear).

    ``linear -> activation -> linear`` would otherwise reshape rows back to [..., K]
    only to reshape them to rows again; reshaping [M, K] to [-1, K] is the identity.
    """
    producer = x.producer
    if producer is None or producer.op != "reshape":
        return None
    source = producer.inputs[0]
    last = x.type.shape[-1]
    return source if source.type.rank == 2 and source.type.shape[1] == last else None


def _as_rows(node: Node) -> bool:
    """Whether ``node`` becomes a 2-D Gemm (see the module docstring)."""
    shape, features = node.inputs[0].type.shape, node.inputs[1].type.shape
    if len(node.inputs) < 3 or len(shape) < 2:
        return False
    if not all(isinstance(d, int) and d > 0 for d in (shape[-1], *features)):
        return False
    leading = shape[:-1]
    return 0 not in leading and sum(not isinstance(d, int) for d in leading) <= 1


def lower_linear(ctx: ExportContext, node: Node) -> None:
    """``Gemm(x, w, b)`` for a linear ``prepare_linear`` made: x [M, K], a bias, no activation."""
    if node.inputs[0].type.rank != 2 or len(node.inputs) != 3 or node.attrs["activation"] != "none":
        raise InternalError(
            f"cannot lower linear %{node.output.name}: only 2-D linears with a bias and no "
            "activation reach the exporter",
            node.loc,
            "please report this: prepare_graph should have rewritten it (prepare_linear)",
        )
    ctx.emit1("Gemm", ctx.names(node.inputs), node.output.name)


__all__ = ["lower_linear", "prepare_linear"]
