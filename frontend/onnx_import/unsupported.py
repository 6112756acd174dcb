"""Finding every ONNX node the importer cannot convert, before converting any.

``check_supported(nodes, opsets)`` raises one ``UnsupportedOpError`` that
lists each unsupported op type (with its domain when not the default one)
once, with how many nodes use it and their names, so a user sees the whole
problem at once rather than one op per attempt. An op is unsupported when no
converter is registered for it (unless the node computes a constant from
constants and shapes, which ``folding`` handles), or when the model's opset
selects a schema version that its converter was not written for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import onnx

from nanograph.frontend.onnx_import.loading import MIN_OPSET
from nanograph.frontend.onnx_import.registry import CONVERTERS, schema_version
from nanograph.ir.errors import UnsupportedOpError

SHOWN_NAMES = 5


@dataclass
class _Usage:
    reason: str
    names: list[str] = field(default_factory=list)


def node_loc(node: onnx.NodeProto, index: int) -> str:
    """The node's ONNX name, or ``node <op_type>_<index>`` when it has none."""
    return node.name or f"node {node.op_type}_{index}"


def op_label(node: onnx.NodeProto) -> str:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    return f"{domain}.{node.op_type}" if domain else node.op_type


def _reason(node: onnx.NodeProto, opsets: dict[str, int], foldable: bool) -> str | None:
    """Why ``node`` cannot be converted, or None if it can (or can be folded)."""
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    entry = CONVERTERS.get((domain, node.op_type))
    if entry is None:
        return None if foldable and domain == "" else "no converter"
    version = schema_version(node.op_type, domain, opsets)
    if version not in entry.versions:
        known = ", ".join(str(v) for v in entry.versions)
        reason = f"version {version} (nanograph converts versions {known})"
        if opsets.get("", MIN_OPSET) < MIN_OPSET:
            reason += (
                f"; convert the model first: onnx.version_converter.convert_version(model, "
                f"{MIN_OPSET})"
            )
        return reason
    return None


def check_supported(
    nodes: Sequence[tuple[int, onnx.NodeProto]],
    opsets: dict[str, int],
    foldable: set[int] | None = None,
) -> None:
    """Raise one error naming every unsupported op type, with counts and node names;
    ``foldable`` nodes (computed from constants and shapes) need no converter."""
    usage: dict[str, _Usage] = {}
    for index, node in nodes:
        reason = _reason(node, opsets, index in (foldable or set()))
        if reason is not None:
            usage.setdefault(op_label(node), _Usage(reason)).names.append(node_loc(node, index))
    if not usage:
        return
    lines = []
    for label, use in sorted(usage.items()):
        shown = ", ".join(use.names[:SHOWN_NAMES])
        more = len(use.names) - SHOWN_NAMES
        if more > 0:
            shown += f", ... and {more} more"
        why = "" if use.reason == "no converter" else f" [{use.reason}]"
        lines.append(f"  {label}{why}: {len(use.names)} node(s): {shown}")
    total = sum(len(u.names) for u in usage.values())
    raise UnsupportedOpError(
        f"the model uses {len(usage)} op type(s) nanograph cannot import "
        f"({total} node(s)):\n" + "\n".join(lines),
        hint="replace these ops in the exporting framework, or export at another opset; "
        "the README lists the ops and versions nanograph imports",
    )


__all__ = ["check_supported", "node_loc", "op_label"]
