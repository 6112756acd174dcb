"""Converters of data-movement ONNX ops: Reshape, Transpose, Flatten, Squeeze,
Unsqueeze, Concat, Split, Slice, Expand, Pad and Gather.

Shape-like inputs (a Reshape's shape, Slice's starts/ends, Unsqueeze's axes,
...) must be known at import: constants, or computed from input shapes (then
their elements are symbolic dims, e.g. Reshape to ``[N, -1]``). A shape
computed from tensor data is refused with an ``UnsupportedOpError`` naming the
node. Version adapters: ``Reshape``'s ``allowzero`` (14+; 0 copies the input
dim, otherwise a literal 0); ``Split``'s ``num_outputs`` (18+; uneven last
chunk); ``Pad``'s ``axes`` input (18+) and ``wrap`` mode (19+, refused).
Negative pads crop (a ``slice`` after the ``pad``).
"""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.ir.dims import Dim, exact_div
from nanograph.ir.ops.inference import normalize_axis
from nanograph.ir.ops.slicing import TO_THE_END

_MANY = (13, 21, 23, 24, 25)


@converter("Reshape", versions=(13, 14, 19, 21, 23, 24, 25))
def convert_reshape(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    target = list(b.dims(node.require(1), "the shape input of Reshape"))
    if not node.attr("allowzero", 0):
        for i, d in enumerate(target):
            if d == 0:
                if i >= x.type.rank:
                    raise node.refuse(f"shape {target}: a 0 at position {i} has no input dim")
                target[i] = x.type.shape[i]
    return one(b.op("reshape", x, shape=tuple(target)))


@converter("Transpose", versions=_MANY)
def convert_transpose(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    perm = node.attr("perm", list(reversed(range(x.type.rank))))
    return one(b.op("transpose", x, perm=tuple(perm)))


@converter("Flatten", versions=_MANY)
def convert_flatten(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(b.op("flatten", node.require(0), axis=int(node.attr("axis", 1))))


@converter("Squeeze", versions=_MANY)
def convert_squeeze(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    given = node.input(1)
    if given is not None:
        axes = b.ints(given, "the axes input of Squeeze")
    elif any(not isinstance(d, int) for d in x.type.shape):
        raise node.refuse(
            f"without axes, Squeeze removes every dim of length 1, unknown for {x.type}",
            hint="give the axes explicitly (torch: x.squeeze(dim))",
        )
    else:
        axes = tuple(i for i, d in enumerate(x.type.shape) if d == 1)
    return one(b.op("squeeze", x, axes=axes))


@converter("Unsqueeze", versions=_MANY)
def convert_unsqueeze(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    axes = b.ints(node.require(1, "axes"), "the axes input of Unsqueeze")
    return one(b.op("unsqueeze", node.require(0), axes=axes))


@converter("Concat", versions=(13,))
def convert_concat(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    inputs = [v for v in node.inputs if v is not None]
    return one(b.op("concat", *inputs, axis=int(node.attr("axis"))))


def split_sizes(b: Builder, node: OnnxNode, x: Operand, axis: int) -> tuple[Dim, ...]:
    """The sizes of the pieces: the ``split`` input, else equal parts (uneven at 18+)."""
    given = node.input(1)
    if given is not None:
        return b.dims(given, "the split input of Split")
    count = int(node.attr("num_outputs", node.n_outputs)) if node.version >= 18 else node.n_outputs
    dim = x.type.shape[normalize_axis(axis, x.type.rank)]
    if isinstance(dim, int) and node.version >= 18:
        chunk = -(-dim // count)
        return (chunk,) * (count - 1) + (dim - chunk * (count - 1),)
    part = exact_div(dim, count)
    if part is None:
        raise node.refuse(f"cannot split dim {dim} of {x.type} into {count} equal parts")
    return (part,) * count


@converter("Split", versions=(13, 18))
def convert_split(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    axis = int(node.attr("axis", 0))
    return b.op_multi("split", x, axis=axis, sizes=split_sizes(b, node, x, axis))


@converter("Slice", versions=(13,))
def convert_slice(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    starts = b.dims(node.require(1), "the starts input of Slice")
    ends = b.dims(node.require(2), "the ends input of Slice")
    attrs: dict[str, object] = {"starts": starts, "ends": ends}
    for index, name in ((3, "axes"), (4, "steps")):
        given = node.input(index)
        if given is not None:
            attrs[name] = b.ints(given, f"the {name} input of Slice")
    return one(b.op("slice", x, **attrs))


@converter("Expand", versions=(13,))
def convert_expand(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    shape = b.dims(node.require(1), "the shape input of Expand")
    return one(b.op("expand", node.require(0), shape=shape))


@converter("Gather", versions=(13,))
def convert_gather(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    axis = int(node.attr("axis", 0))
    return one(b.op("gather", node.require(0), node.require(1), axis=axis))


def _full_pads(b: Builder, node: OnnxNode, rank: int) -> list[int]:
    """Pads for every axis (begins then ends), from the ``pads`` and ``axes`` (18+) inputs."""
    pads = b.ints(node.require(1, "pads"), "the pads input of Pad")
    given = node.input(3)
    axes = list(range(rank)) if given is None else list(b.ints(given, "the axes input of Pad"))
    if len(pads) != 2 * len(axes):
        raise node.refuse(f"pads {list(pads)} must have 2 values per padded axis ({len(axes)})")
    full = [0] * (2 * rank)
    for j, axis in enumerate(axes):
        axis = normalize_axis(axis, rank)
        full[axis], full[axis + rank] = pads[j], pads[j + len(axes)]
    return full


@converter("Pad", versions=(13, 18, 19, 21, 23, 24, 25))
def convert_pad(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    mode = node.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise node.refuse(f"mode={mode!r} is not supported (constant, reflect, edge)")
    rank = x.type.rank
    full = _full_pads(b, node, rank)
    given = node.input(2)
    value = 0.0 if given is None else float(b.static(given, "constant_value").reshape(-1)[0])
    y = x
    if any(p > 0 for p in full):
        grow = tuple(max(p, 0) for p in full)
        y = b.op("pad", x, pads=grow, mode=mode, value=value)
    crop = [i for i in range(rank) if full[i] < 0 or full[i + rank] < 0]
    if crop:
        starts = tuple(max(-full[i], 0) for i in crop)
        ends = tuple(full[i + rank] if full[i + rank] < 0 else TO_THE_END for i in crop)
        y = b.op("slice", y, starts=starts, ends=ends, axes=tuple(crop))
    return one(y)
