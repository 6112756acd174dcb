"""ONNX export: ``export_onnx(graph, path=None, *, opset=23, attention="auto", ...)``.

The graph is exported as it is (pipeline levels are the caller's:
``nanograph.export_onnx`` runs them first). Contract:

- Any verified graph exports to a ``ModelProto`` that passes
  ``onnx.checker.check_model(full_check=True)`` (strict shape inference),
  checked before anything is written; a failure is an ``InternalError``.
- Opsets 17..28 (``SUPPORTED_OPSETS``); others raise ``ConfigError``.
  What an opset lacks is lowered: GELU to its erf/tanh form below 20,
  reduction axes as attributes below 18, a ``ceil_mode`` pool that drops its
  last window as explicit end padding below 22; dilated average pooling is
  refused below 19 (it has no lowering there).
- ``attention``: ``onnx`` (ONNX ``Attention``, opset >= 23 only), ``ms``
  (``com.microsoft.MultiHeadAttention``, for onnxruntime), ``plain``
  (the decomposition into standard ops), ``auto`` (``onnx`` at opset >= 23,
  else ``plain``). With ``onnx``, a query whose keys are all hidden gives
  zeros; our reference, ``plain`` and ``ms`` give NaN (see ``attention``).
- Names: IR value names are kept, each ONNX node is named after its first
  output, its ``doc_string`` is the user's source location; symbolic dims
  are ``dim_param``s and symbolic attribute dims are computed at run time
  from the inputs' shapes, so one file runs at every batch size and length.
- ``path``: written atomically; ``external_data=True`` moves initializers over
  1 KB into ``<file>.data`` next to it (see ``save``). The returned model
  always holds its data inline.
- ``metadata_props``: ``nanograph.graph``, ``nanograph.attention`` (how
  attention was lowered, in words), plus the caller's ``metadata``.

Lowering tables (one file per op family): ``lower_elementwise``,
``lower_nn``, ``lower_shape``, ``lower_reduction``, ``attention``; ``linear``
(``Gemm`` on rows, see there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import onnx

from nanograph.backends.onnx_export.attention import ONNX_ATTENTION_OPSET, attention_lowerings
from nanograph.backends.onnx_export.context import ExportContext
from nanograph.backends.onnx_export.linear import lower_linear
from nanograph.backends.onnx_export.lower_elementwise import elementwise_lowerings
from nanograph.backends.onnx_export.lower_nn import nn_lowerings
from nanograph.backends.onnx_export.lower_reduction import reduction_lowerings
from nanograph.backends.onnx_export.lower_shape import shape_lowerings
from nanograph.backends.onnx_export.lowering import LowerFn
from nanograph.backends.onnx_export.model import build_model, check
from nanograph.backends.onnx_export.prepare import attention_summary, prepare_graph
from nanograph.backends.onnx_export.save import save_model
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph

SUPPORTED_OPSETS = range(17, 29)
ATTENTION_CHOICES = {
    "auto": "onnx at opset >= 23, else plain",
    "onnx": "ONNX Attention (opset >= 23)",
    "ms": "com.microsoft.MultiHeadAttention (onnxruntime)",
    "plain": "decomposed into standard ONNX ops",
}
DEFAULT_OPSET = 23

LOWERINGS: dict[str, LowerFn] = {
    **elementwise_lowerings,
    **nn_lowerings,
    **shape_lowerings,
    **reduction_lowerings,
    **attention_lowerings,
    "linear": lower_linear,
}


def resolve_attention(attention: str, opset: int) -> str:
    """Check ``opset`` and ``attention``; the concrete attention target (never ``auto``)."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in SUPPORTED_OPSETS:
        raise ConfigError(
            f"unsupported opset {opset!r}",
            hint=f"use an opset from {SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1} "
            f"(default {DEFAULT_OPSET})",
        )
    if attention not in ATTENTION_CHOICES:
        listed = "; ".join(f"{k} ({v})" for k, v in ATTENTION_CHOICES.items())
        raise ConfigError(f"unknown attention lowering {attention!r}", hint=f"use one of: {listed}")
    if attention == "onnx" and opset < ONNX_ATTENTION_OPSET:
        raise ConfigError(
            f"attention='onnx' needs opset {ONNX_ATTENTION_OPSET} or later, got opset {opset}",
            hint="export with --opset 23 or later, or use --attention ms or plain",
        )
    if attention == "auto":
        return "onnx" if opset >= ONNX_ATTENTION_OPSET else "plain"
    return attention


def export_onnx(
    graph: Graph,
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    attention: str = "auto",
    external_data: bool = False,
    producer: str = "nanograph",
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """Export ``graph`` to ONNX (see the module docstring); write it to ``path`` if given."""
    target = resolve_attention(attention, opset)
    work = prepare_graph(graph, opset, target)
    ctx = ExportContext(work, opset, target)
    for node in work.nodes:
        lower = LOWERINGS.get(node.op)
        if lower is None:
            raise ConfigError(
                f"cannot export {node.op} %{node.outputs[0].name}: no ONNX lowering",
                node.loc,
                "please report this: every op should have one (see LOWERINGS)",
            )
        with ctx.lowering(node):
            lower(ctx, node)
    props = {"nanograph.attention": attention_summary(graph, target), **(metadata or {})}
    model = build_model(work, ctx, producer, props)
    check(model)
    if path is not None:
        save_model(model, path, external_data)
    return model


__all__ = [
    "ATTENTION_CHOICES",
    "DEFAULT_OPSET",
    "LOWERINGS",
    "SUPPORTED_OPSETS",
    "export_onnx",
    "resolve_attention",
]
