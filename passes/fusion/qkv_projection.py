"""One matmul for the projections that read the same input: ``fuse-qkv``.

    q = x @ Wq + bq, k = x @ Wk + bk, v = x @ Wv + bv
        -> q, k, v = split(x @ [Wq | Wk | Wv] + [bq | bk | bv], sizes=[oq, ok, ov], axis=-1)

Column blocks of a matrix product are the products with the column blocks,
so one wider matmul computes every projection at once (one read of ``x``, one
bigger and faster GEMM). Two rules:

- ``qkv-projections->linear+split``: N >= 2 ``matmul``/``linear`` nodes that
  take the same value as ``x`` and a constant rank-2 weight, with the same
  activation (applied per column, so it commutes with the split) and a
  constant bias in all or in none, become one node on the concatenated
  weight (``@{first}.qkv.weight``, ``@{first}.qkv.bias``, where ``first`` is
  the output name of the group's first projection) and a ``split`` whose
  outputs keep the projections' names. Any N: q/k/v, k/v of cross-attention,
  GQA's narrower k and v. The new nodes go before the group's first
  projection, with its location. Projections of one input that differ in
  activation or bias presence form separate groups.
- ``packed-qkv->split``: an in-projection that is already packed (one
  ``matmul``/``linear``, as ``torch.nn.MultiheadAttention`` exports it) and is
  then cut into q, k and v either by slices that tile its last axis, or by
  PyTorch's idiom ``unflatten(-1, (K, E)).unsqueeze(0).transpose(0, -2)
  .squeeze(-2)[i]`` (reshape and unsqueeze, or the one reshape O1 merges them
  into; transpose, squeeze, one gather per piece), becomes that projection
  followed by one ``split``. Either way later passes see the same form as
  for fused separate projections.

Near misses (only where at least two projections share an input, or the
packed idiom was recognised): a weight or bias computed at run time, a
different activation, a bias in some but not all; the producer of a packed
projection not a matmul/linear; slices that do not tile the axis. A
separate-projection near miss is anchored at the projection left out and
counts as "matched" the projections of ``x`` in the biggest fusable group, out
of all projections of ``x``. Dtypes need no check: ``matmul`` and ``linear``
require the weights to share ``x``'s dtype, so projections of one input
always agree.

Contracts: outputs, types and names of the replaced values are unchanged;
numerics are too up to float rounding (each output column is the same dot
product, computed by a different GEMM call). Weight and bias constants left
unused are removed (``dead constants``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from nanograph.ir.dims import Dim
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops.inference import normalize_axes
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, MatchFailure, match, op, var
from nanograph.passes.records import NearMiss, PassResult, Rewrite
from nanograph.passes.rewriter import run_freeing_constants

SEPARATE = "qkv-projections->linear+split"
PACKED = "packed-qkv->split"
PROJECTIONS = ("matmul", "linear")


# separate projections of one input ----------------------------------------------------------
@dataclass(frozen=True)
class _Kind:
    """What must agree for projections to share one node."""

    activation: str
    has_bias: bool


def _kind(node: Node) -> _Kind:
    return _Kind(node.attrs.get("activation", "none"), len(node.inputs) > 2)


def _is_projection_of(node: Node, x: Value) -> bool:
    """``node`` is ``x @ W (+ b)`` with a rank-2 ``W`` (constant or not)."""
    return (
        node.op in PROJECTIONS
        and node.inputs[0] is x
        and node.inputs[1] is not x
        and node.inputs[1].type.rank == 2
    )


def _not_constant(node: Node) -> str | None:
    """Why ``node``'s weight or bias cannot be concatenated at compile time, or None."""
    for what, value in zip(("weight", "bias"), node.inputs[1:], strict=False):
        if not value.is_const:
            return (
                f"the {what} %{value.name} of {node.op} %{node.outputs[0].name} is computed "
                "at run time, not a constant, so it cannot be concatenated with the others"
            )
    return None


def _differs(node: Node, other: Node) -> str:
    """Why ``node`` cannot share ``other``'s fused node (their kinds differ)."""
    mine, theirs = _kind(node), _kind(other)
    name, other_name = f"{node.op} %{node.outputs[0].name}", f"{other.op} %{other.outputs[0].name}"
    if mine.activation != theirs.activation:
        return (
            f"{name} has activation {mine.activation!r} but {other_name} has "
            f"{theirs.activation!r} (a fused projection has one activation)"
        )
    has, lacks = (name, other_name) if mine.has_bias else (other_name, name)
    return f"{has} has a bias but {lacks} has none (a bias must be in all projections or none)"


def _fuse_group(graph: Graph, x: Value, group: Sequence[Node]) -> tuple[Rewrite, list[Value]]:
    """Replace ``group`` (in graph order) by one matmul/linear on ``x`` and a split; the
    record and the split's outputs (which now stand for the projections)."""
    first = group[0]
    base = first.outputs[0].name
    weights = [n.inputs[1] for n in group]
    inputs = [x, _concat_constant(graph, f"{base}.qkv.weight", weights)]
    if _kind(first).has_bias:
        inputs.append(_concat_constant(graph, f"{base}.qkv.bias", [n.inputs[2] for n in group]))
    fused_op = "matmul" if all(n.op == "matmul" for n in group) else "linear"
    attrs = {} if fused_op == "matmul" else {"activation": _kind(first).activation}
    fused = graph.create_node(fused_op, inputs, attrs, loc=first.loc, names=[f"{base}.qkv"])
    graph.insert_before(first, fused)
    sizes = [w.type.shape[1] for w in weights]
    split = _insert_split(graph, fused.outputs[0], sizes, before=first)
    rewrite = Rewrite.of(SEPARATE, group)
    _replace_outputs(graph, [n.outputs[0] for n in group], split.outputs)
    return rewrite.with_produced([fused, split]), list(split.outputs)


def _concat_constant(graph: Graph, name: str, parts: Sequence[Value]) -> Value:
    data = [p.const for p in parts]
    assert all(d is not None for d in data), "checked by _not_constant"
    joined = np.concatenate([d for d in data if d is not None], axis=-1)
    return graph.add_constant(graph.unique_name(name), joined)


def _insert_split(graph: Graph, y: Value, sizes: Sequence[Dim], before: Node) -> Node:
    split = graph.create_node(
        "split", [y], {"axis": -1, "sizes": tuple(sizes)}, loc=before.loc, names=[f"{y.name}.split"]
    )
    graph.insert_before(before, split)
    return split


def _replace_outputs(graph: Graph, olds: Sequence[Value], news: Sequence[Value]) -> None:
    """Each old value's uses move to its new value, whose name it takes; the old producers
    (now unused) are removed."""
    for old, new in zip(olds, news, strict=True):
        name = old.name
        graph.replace_all_uses(old, new)
        producer = old.producer
        if producer is not None and producer.graph is graph:
            graph.remove(producer)
        graph.rename(new, name)


def _group_projections(
    graph: Graph, x: Value, result: PassResult, order: dict[int, int]
) -> list[Value]:
    """Fuse the projections of ``x``; record near misses; the new split outputs."""
    candidates = sorted(
        (n for n in x.users if _is_projection_of(n, x)), key=lambda n: order.get(id(n), -1)
    )
    if len(candidates) < 2:
        return []
    groups: dict[_Kind, list[Node]] = {}
    misses: list[tuple[Node, str]] = []
    for node in candidates:
        reason = _not_constant(node)
        if reason is not None:
            misses.append((node, reason))
        else:
            groups.setdefault(_kind(node), []).append(node)
    biggest = max(groups.values(), key=len, default=[])
    made: list[Value] = []
    for group in groups.values():
        if len(group) >= 2:
            rewrite, pieces = _fuse_group(graph, x, group)
            result.record(rewrite)
            made += pieces
        elif group is not biggest:
            misses.append((group[0], _differs(group[0], biggest[0])))
    for node, reason in misses:
        result.near_misses.append(
            NearMiss(
                SEPARATE,
                node.outputs[0].name,
                node.op,
                node.loc,
                len(biggest),
                len(candidates),
                reason,
            )
        )
    return made


# packed in-projections ---------------------------------------------------------------------
# PyTorch's idiom ends in a swap of the new leading unit axis with the pieces' axis and a
# squeeze of that unit axis; before them, any chain of views of y (a reshape to [.., K, E]
# then unsqueeze(0), or one reshape to [1, .., K, E] once O1 has merged the two).
_swapped_and_squeezed = op.squeeze(op.transpose(var("packed"), capture="swap"), capture="squeeze")
VIEWS = ("reshape", "unsqueeze")


def _viewed_from(packed: Value) -> tuple[Value, list[Node]]:
    """The value ``packed`` is a view of through single-use reshape/unsqueeze nodes, and those
    nodes (last first)."""
    views: list[Node] = []
    value, producer = packed, packed.producer
    while producer is not None and producer.op in VIEWS and _only_one_use(value, producer):
        views.append(producer)
        value = producer.inputs[0]
        producer = value.producer
    return value, views


def _only_one_use(value: Value, producer: Node) -> bool:
    graph = producer.graph
    return value.num_uses == 1 and not (graph and any(value is o for o in graph.outputs))


def _pieces_of(m: Match, y: Value) -> tuple[int, int] | None:
    """(K, E) if the matched swap and squeeze, on ``m["packed"]`` = ``y`` viewed as
    [1, *y.shape[:-1], K, E], cut ``y``'s last axis into K pieces of size E; else None."""
    packed = m["packed"].type.shape
    if len(packed) != y.type.rank + 2 or packed[0] != 1 or packed[1:-2] != y.type.shape[:-1]:
        return None
    k, e = packed[-2:]
    if not isinstance(k, int) or not isinstance(e, int) or k * e != y.type.shape[-1]:
        return None
    rank = len(packed)
    swap = list(range(rank))
    swap[0], swap[rank - 2] = rank - 2, 0
    if tuple(m.node("swap").attrs["perm"]) != tuple(swap):
        return None
    if normalize_axes(m.node("squeeze").attrs["axes"], rank) != (rank - 2,):
        return None
    return k, e


def _selected_piece(node: Node, squeezed: Value) -> int | None:
    """The piece ``i`` a ``gather(squeezed, i)`` on axis 0 with a constant scalar ``i`` picks."""
    if node.op != "gather" or node.inputs[0] is not squeezed or node.attrs["axis"] != 0:
        return None
    index, pieces = node.inputs[1], squeezed.type.shape[0]
    if index.const is None or index.type.rank != 0 or not isinstance(pieces, int):
        return None
    i = int(index.const)
    return i % pieces if -pieces <= i < pieces else None


def _packed_by_torch_idiom(graph: Graph, squeeze: Node, result: PassResult) -> None:
    found = match(_swapped_and_squeezed, squeeze)
    if isinstance(found, MatchFailure):
        return
    y, views = _viewed_from(found["packed"])
    pieces = _pieces_of(found, y) if views else None
    if pieces is None:
        return  # some other squeeze of a transpose
    squeezed, (count, size) = squeeze.outputs[0], pieces
    users = squeezed.users
    picks = [_selected_piece(n, squeezed) for n in users]
    reason = _packed_producer(y)
    if reason is None and (not users or None in picks or squeezed in graph.outputs):
        reason = f"%{squeezed.name} is used by more than selects of one constant piece each"
    matched = [*found.nodes, *views]
    if reason is not None:
        _packed_near_miss(result, squeeze, len(matched), reason)
        return
    split = _insert_split(graph, y, [size] * count, before=views[-1])
    rewrite = Rewrite.of(PACKED, [y.producer, *matched, *users] if y.producer else matched)
    olds = [n.outputs[0] for n in users]
    _replace_outputs(graph, olds, [split.outputs[i] for i in picks if i is not None])
    for node in matched:  # squeeze first: users before producers
        graph.remove(node)
    result.record(rewrite.with_produced([split]))


def _packed_producer(y: Value) -> str | None:
    producer = y.producer
    if producer is not None and producer.op in PROJECTIONS and producer.inputs[1].type.rank == 2:
        return None
    made_by = "a graph input or constant" if producer is None else producer.op
    return (
        f"the packed q/k/v %{y.name} is produced by {made_by}, not by a matmul or linear "
        "with a rank-2 weight (run fuse-linear first to absorb its bias)"
    )


def _slice_range(node: Node, y: Value) -> tuple[int, int] | None:
    """[start, end) of a step-1 slice of ``y``'s last axis with static bounds, else None."""
    if node.op != "slice" or node.inputs[0] is not y or len(node.attrs["starts"]) != 1:
        return None
    rank, total = y.type.rank, y.type.shape[-1]
    axes = normalize_axes(node.attrs.get("axes") or (0,), rank)
    steps = node.attrs.get("steps") or (1,)
    (start,), (end,) = node.attrs["starts"], node.attrs["ends"]
    if axes != (rank - 1,) or tuple(steps) != (1,) or not isinstance(total, int):
        return None
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    lo, hi, _ = slice(start, end).indices(total)  # clamps, as slice does (TO_THE_END too)
    return (lo, hi) if lo < hi else None


def _packed_by_slices(graph: Graph, producer: Node, result: PassResult) -> None:
    y = producer.outputs[0]
    users = y.users
    ranges = [_slice_range(n, y) for n in users]
    if len(users) < 2 or None in ranges or y in graph.outputs:
        return
    cuts = sorted(set(r for r in ranges if r is not None))
    total = y.type.shape[-1]
    tiled = cuts[0][0] == 0 and cuts[-1][1] == total
    tiled = tiled and all(a[1] == b[0] for a, b in pairwise(cuts))
    if len(cuts) < 2 or not tiled:
        shown = ", ".join(f"[{lo}:{hi}]" for lo, hi in cuts)
        reason = f"the slices {shown} of %{y.name} do not cut its last axis 0..{total} in pieces"
        _packed_near_miss(result, producer, 1, reason)
        return
    split = _insert_split(graph, y, [hi - lo for lo, hi in cuts], before=users[0])
    piece = {r: out for r, out in zip(cuts, split.outputs, strict=True)}
    rewrite = Rewrite.of(PACKED, [producer, *users])
    _replace_outputs(graph, [n.outputs[0] for n in users], [piece[r] for r in ranges if r])
    result.record(rewrite.with_produced([split]))


def _packed_near_miss(result: PassResult, anchor: Node, matched: int, reason: str) -> None:
    result.near_misses.append(
        NearMiss(PACKED, anchor.outputs[0].name, anchor.op, anchor.loc, matched, matched, reason)
    )


# the pass ----------------------------------------------------------------------------------
def _live_values(graph: Graph) -> Iterable[Value]:
    yield from graph.inputs
    for node in list(graph.nodes):
        if node.graph is graph:
            yield from node.outputs


def fuse_qkv(graph: Graph) -> PassResult:
    """Merge projections of one input into one matmul/linear + split; canonicalize packed ones."""
    return run_freeing_constants(graph, _fuse_projections)


def _fuse_projections(graph: Graph) -> PassResult:
    """Packed in-projections become splits first; then each value's projections merge (the
    splits' outputs are values too, so a projection of a piece is seen)."""
    result = PassResult()
    for node in list(graph.nodes):
        if node.graph is not graph:
            continue
        if node.op == "squeeze":
            _packed_by_torch_idiom(graph, node, result)
        elif node.op in PROJECTIONS and node.inputs[1].type.rank == 2:
            _packed_by_slices(graph, node, result)
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    pending = deque(_live_values(graph))
    while pending:
        x = pending.popleft()
        if x.producer is None or x.producer.graph is graph:
            pending += _group_projections(graph, x, result, order)
    return result


FUSE_QKV = Pass("fuse-qkv", fuse_qkv)

__all__ = ["FUSE_QKV", "PACKED", "SEPARATE", "fuse_qkv"]
