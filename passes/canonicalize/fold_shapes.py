"""Shape folding: reads of static dims become constants, even when the tensor is not one.

``shape(x)`` reads no data: when ``x``'s type is fully static, it is the
constant ``[d0, d1, ...]`` whatever ``x`` holds. With symbolic dims
(``x: f32[N,3,32,32]``) the shape is partly known: the elements that
data-movement ops pick out of it (``gather``, ``slice``, ``concat``,
``reshape``, ...: the ``MOVES`` table) are tracked as dims, and every value
whose elements are all ints becomes a constant (``slice(shape(x))[1:]`` is
``[3, 32, 32]``), while the symbolic rest stays a computation (``N`` is read
at run time). Arithmetic on the constants is ``fold-constants``' work.

The ONNX importer evaluates such shape computations itself when it can, and
``specialize`` folds ``shape`` once the symbols are bound; what reaches this
pass is what they left (a shape used as data, hand-written or rewritten IR).

How a data-movement op moves dims: its registry reference runs on arrays of
element *indices* (into a pool of the inputs' elements), and the output's
elements are picked from the pool by those indices, so nothing about an op's
meaning is written here. Inputs that steer the op (``gather``'s indices) must
be constants. Arrays are shape vectors, so at most ``MAX_ELEMENTS`` long.

A folded output that is a graph output is kept as it is (graph outputs stay
node outputs). One walk in topological order: linear in the graph's size.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.dims import Dim
from nanograph.ir.errors import NanographError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.passes.canonicalize.node_to_constants import (
    folded,
    is_graph_output,
    replace_by_constants,
)
from nanograph.passes.manager import Pass
from nanograph.passes.records import PassResult

RULE = "fold-shapes"
MAX_ELEMENTS = 4096

MOVES: dict[str, tuple[int, ...] | None] = {
    "gather": (0,),
    "slice": (0,),
    "concat": None,
    "reshape": (0,),
    "flatten": (0,),
    "squeeze": (0,),
    "unsqueeze": (0,),
    "transpose": (0,),
    "expand": (0,),
    "identity": (0,),
}
"""Op -> the inputs whose elements it moves unchanged (None: all); the others steer it."""

Dims = np.ndarray  # an object array of Dim (ints and SymExprs)


def _shape_dims(node: Node) -> Dims:
    dims = np.empty(node.inputs[0].type.rank, dtype=object)
    dims[:] = list(node.inputs[0].type.shape)
    return dims


def _moved_dims(node: Node, known: dict[Value, Dims]) -> Dims | None:
    """The output of data-movement ``node`` as dims, if some input it moves is known dims
    and every other input is a constant; else None."""
    moved = MOVES.get(node.op, ())
    if len(node.outputs) != 1 or not node.output.type.is_static:
        return None
    if not any(v in known for v in node.inputs):
        return None
    pool: list[Dim] = []
    args: list[np.ndarray] = []
    for i, v in enumerate(node.inputs):
        elements = known.get(v)
        if elements is None and v.const is None:
            return None
        if moved is not None and i not in moved:
            if elements is not None:
                return None  # a steering input read from a shape: not static here
            args.append(np.asarray(v.const))
            continue
        data = elements if elements is not None else np.asarray(v.const).astype(object)
        if len(pool) + data.size > MAX_ELEMENTS:
            return None  # data, not a shape vector
        args.append(np.arange(len(pool), len(pool) + data.size).reshape(data.shape))
        pool.extend(data.reshape(-1))
    try:
        (indices,) = get_op(node.op).reference(args, node.attrs)
    except (NanographError, ValueError, IndexError):
        return None
    out = np.empty(indices.size, dtype=object)
    out[:] = [pool[int(i)] for i in indices.reshape(-1)]
    return out.reshape(indices.shape)


def _dims_of(node: Node, known: dict[Value, Dims]) -> Dims | None:
    if node.op == "shape":
        return _shape_dims(node)
    if node.op in MOVES:
        return _moved_dims(node, known)
    return None


def fold_shapes(graph: Graph) -> PassResult:
    """Replace reads of static dims (``shape`` and what is picked out of it) by constants."""
    result = PassResult()
    known: dict[Value, Dims] = {}  # value -> its elements, for values read from shapes
    for node in list(graph.nodes):
        dims = _dims_of(node, known)
        if dims is None:
            continue
        out = node.outputs[0]
        if all(isinstance(d, int) for d in dims.reshape(-1)) and not is_graph_output(graph, node):
            array = dims.astype(out.type.dtype.numpy)
            result.record(folded(RULE, node, replace_by_constants(graph, node, [array])))
        else:
            known[out] = dims
    return result


FOLD_SHAPES = Pass("fold-shapes", fold_shapes)

__all__ = ["FOLD_SHAPES", "MAX_ELEMENTS", "MOVES", "fold_shapes"]
