"""Constant folding: a node whose inputs are all constants becomes constants.

A node is folded when every input is a constant with data (a node without
inputs, such as ``range``, qualifies), its output types are static, and its
outputs are not graph outputs. Its value is computed by the op's own
``reference`` (``get_op(op).reference``), the same function the reference
interpreter calls, so folding changes no result: not a bit. The constants
take the names of the outputs they replace (``%fc1.transpose`` becomes
``@fc1.transpose``, the frontend's ``Linear`` weight transposed once, at
compile time).

Every op in the registry is a pure function of its inputs and attributes, so
any op may be folded; an op whose result depended on anything else (a random
op, say) would have to be listed in ``NEVER_FOLDED``.

Weights are never duplicated: a result of more than ``FOLD_LIMIT`` elements
is folded only when its constant inputs die with the fold (the node is their
only user) and it is no larger than they are, so the graph's constant data
does not grow (``transpose(@W)`` of a weight used once: folded, ``@W``
removed; the same transpose of a weight that is also used elsewhere: kept).
Two nodes computing the same op of the same constants share one folded
result.

Nodes that could have been folded but were not are near misses, with the
reason: symbolic output dims (known only when ``specialize`` binds them), a
graph output, the size limit, or a reference that raised (the error is left
to the run, where it is reported with the input shapes).

One walk in topological order folds whole constant subgraphs (a folded
node's users are visited after it), so the pass is linear in the graph's size
plus the work of the references.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.passes.canonicalize.node_to_constants import (
    folded,
    is_graph_output,
    is_output,
    refused,
    replace_by_constants,
)
from nanograph.passes.manager import Pass
from nanograph.passes.records import PassResult

RULE = "fold-constants"
FOLD_LIMIT = 1 << 20
"""Elements a folded result may have when folding keeps its constant inputs alive."""
NEVER_FOLDED: frozenset[str] = frozenset()
"""Ops whose result depends on more than their inputs and attributes (none today)."""

_Key = tuple[str, tuple[Value, ...], Attrs]


def _has_constant_inputs(node: Node) -> bool:
    return all(v.is_const for v in node.inputs)


def _inputs_die(graph: Graph, node: Node) -> bool:
    """Whether ``node`` is the only user of each of its inputs (none is a graph output)."""
    return all(
        all(user is node for user, _ in v.uses) and not is_output(graph, v) for v in node.inputs
    )


def _static_numel(value: Value) -> int:
    numel = value.type.numel
    assert isinstance(numel, int), f"%{value.name} is not static"
    return numel


def _why_not(graph: Graph, node: Node) -> str | None:
    """Why ``node`` (all of whose inputs are constants) must not be folded, or None."""
    if is_graph_output(graph, node):
        return "its output is a graph output (graph outputs stay node outputs)"
    symbolic = [v for v in node.outputs if not v.type.is_static]
    if symbolic:
        v = symbolic[0]
        return f"%{v.name}: {v.type} has symbolic dims, so its value depends on the input sizes"
    made = sum(_static_numel(v) for v in node.outputs)
    given = sum(v.const.size for v in node.inputs if v.const is not None)
    if made > FOLD_LIMIT and not (made <= given and _inputs_die(graph, node)):
        return (
            f"the result has {made:,} elements, more than FOLD_LIMIT ({FOLD_LIMIT:,}), and "
            "folding it would add that much constant data (its inputs stay alive or are smaller)"
        )
    return None


def _evaluate(node: Node) -> list[np.ndarray] | str:
    """The node's output arrays by its op's reference, or why the reference failed."""
    arrays = [v.const for v in node.inputs if v.const is not None]
    try:
        with np.errstate(all="ignore"):
            return [np.asarray(a) for a in get_op(node.op).reference(arrays, node.attrs)]
    except Exception as err:  # any failure is the run's to report, with its shapes
        return f"its reference raised {type(err).__name__}: {err} (left to run time)"


def _free_unused(graph: Graph, constants: Iterable[Value]) -> int:
    """Remove the ``constants`` that folding left unused; how many. Asked once per
    constant at the end (a use list is as long as the constant's fan-out)."""
    freed = 0
    for v in constants:
        if not v.uses and graph.constants.get(v.name) is v and not is_output(graph, v):
            graph.remove_constant(v.name)
            freed += 1
    return freed


def fold_constants(graph: Graph) -> PassResult:
    """Evaluate nodes whose inputs are all constants; their results become constants."""
    result = PassResult()
    done: dict[_Key, list[Value]] = {}
    consumed: dict[Value, None] = {}  # the folded nodes' inputs, in order
    for node in list(graph.nodes):
        if node.op in NEVER_FOLDED or not _has_constant_inputs(node):
            continue
        reason = _why_not(graph, node)
        if reason is not None:
            result.near_misses.append(refused(RULE, node, reason))
            continue
        inputs = node.inputs
        key = (node.op, inputs, node.attrs)
        if key in done:
            constants = done[key]
            for old, new in zip(node.outputs, constants, strict=True):
                graph.replace_all_uses(old, new)
            graph.remove(node)
        else:
            arrays = _evaluate(node)
            if isinstance(arrays, str):
                result.near_misses.append(refused(RULE, node, arrays))
                continue
            constants = done[key] = replace_by_constants(graph, node, arrays)
        result.record(folded(RULE, node, constants))
        consumed.update(dict.fromkeys(inputs))
    result.count("constants freed", _free_unused(graph, consumed))
    return result


FOLD_CONSTANTS = Pass("fold-constants", fold_constants)

__all__ = ["FOLD_CONSTANTS", "FOLD_LIMIT", "NEVER_FOLDED", "fold_constants"]
