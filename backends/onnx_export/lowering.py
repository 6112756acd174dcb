"""What a lowering is, and the helpers the per-family tables share.

A lowering ``fn(ctx, node)`` emits the ONNX nodes computing ``node``'s
outputs from its inputs (by name), inside ``ctx.lowering(node)``. Its last
node writes the IR output names exactly; helpers get fresh names.
Each family file (``lower_elementwise``, ``lower_nn``, ``lower_shape``,
``lower_reduction``, ``attention``) exports a table ``*_lowerings``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nanograph.backends.onnx_export.context import ExportContext
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Node

LowerFn = Callable[[ExportContext, Node], None]

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def one_to_one(onnx_op: str) -> LowerFn:
    """The lowering of an op that is exactly ``onnx_op`` on the same inputs, no attributes."""

    def lower(ctx: ExportContext, node: Node) -> None:
        ctx.emit(onnx_op, ctx.names(node.inputs), ctx.names(node.outputs))

    lower.__doc__ = f"-> {onnx_op}"
    return lower


def unsupported(node: Node, what: str, hint: str) -> ConfigError:
    """The error for a node this target cannot express: what, where, and how to fix it."""
    return ConfigError(f"cannot export {node.op} %{node.outputs[0].name}: {what}", node.loc, hint)


def in_nchw(
    ctx: ExportContext,
    node: Node,
    emit_core: Callable[[Sequence[str], str | None], str],
    transposed_inputs: int = 1,
) -> None:
    """Run ``emit_core(input names, output name)`` in NCHW.

    For an NCHW node it writes the output directly. For NHWC, the first
    ``transposed_inputs`` inputs (x, and an OHWI weight) are transposed to
    NCHW/OIHW first and the result back to NHWC: ONNX's Conv and pools are
    NCHW only.
    """
    names = ctx.names(node.inputs)
    out = node.output.name
    if node.attrs.get("layout", "NCHW") == "NCHW":
        emit_core(names, out)
        return
    moved = [ctx.emit1("Transpose", [n], perm=list(TO_NCHW)) for n in names[:transposed_inputs]]
    core = emit_core([*moved, *names[transposed_inputs:]], None)
    ctx.emit1("Transpose", [core], out, perm=list(TO_NHWC))


__all__ = ["TO_NCHW", "TO_NHWC", "LowerFn", "in_nchw", "one_to_one", "unsupported"]
