"""``ng.export_onnx``: the passes of a pipeline level, then the ONNX exporter.

``export_onnx(graph, path=None, *, level="O2", opset=23, attention="auto",
external_data=False)`` verifies a copy of ``graph`` (the caller's is never
changed), runs the passes of ``level`` on it (the same pipeline ``compile``
runs; no passes exist yet, so today every level exports the graph as
traced) and hands it to ``nanograph.backends.onnx_export.export_onnx`` (see
there for opsets, attention lowerings, names, atomic files and external
data). The model's ``metadata_props`` record ``nanograph.level`` and
``nanograph.passes`` (the passes run, ``none`` today).

Raises ``ConfigError`` for an unknown level, opset or attention lowering;
the exporter's errors otherwise. onnx is imported on the first call, so
``import nanograph`` stays quick.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nanograph.api import LEVELS, _check_choice, optimize
from nanograph.ir.graph import Graph

if TYPE_CHECKING:
    import onnx

DEFAULT_LEVEL = "O2"


def export_onnx(
    graph: Graph,
    path: str | os.PathLike[str] | None = None,
    *,
    level: str = DEFAULT_LEVEL,
    opset: int = 23,
    attention: str = "auto",
    external_data: bool = False,
) -> onnx.ModelProto:
    """Run ``level``'s passes on a copy of ``graph`` and export it (see the module docstring)."""
    from nanograph.backends.onnx_export import export_onnx as export_graph
    from nanograph.backends.onnx_export import resolve_attention

    _check_choice("level", level, LEVELS)
    resolve_attention(attention, opset)  # refuse bad options before any work
    work, report = optimize(graph, level)
    passes = ", ".join(rec.name for rec in report.records) or "none"
    return export_graph(
        work,
        path,
        opset=opset,
        attention=attention,
        external_data=external_data,
        metadata={"nanograph.level": level, "nanograph.passes": passes},
    )


__all__ = ["DEFAULT_LEVEL", "export_onnx"]
