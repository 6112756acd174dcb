"""The onnxruntime backend: run ONNX models on the CPU or CUDA execution provider.

- ``OrtRunner`` (``runner``): a model (``ModelProto``, bytes or ``.onnx``
  path), inputs checked as by every backend, outputs by name, and the report
  of which provider ran each node.
- ``providers``: ``"auto" | "cpu" | "cuda"`` and what happens where CUDA is missing.
- ``sessions``: session settings (threads, graph optimization, no thread
  spinning by default) and the session cache.
- ``profiling``: ``ProviderReport``, read from onnxruntime's profiling trace.

``ng.compile(graph, backend="ort-cpu" | "ort-cuda")`` exports the graph to
ONNX in memory and runs it through an ``OrtRunner``.
"""

from __future__ import annotations

from nanograph.backends.ort.profiling import ProviderReport
from nanograph.backends.ort.providers import PROVIDER_CHOICES, available_providers
from nanograph.backends.ort.runner import OrtRunner
from nanograph.backends.ort.sessions import (
    OPTIMIZATION_LEVELS,
    SessionSettings,
    clear_session_cache,
)

__all__ = [
    "OPTIMIZATION_LEVELS",
    "PROVIDER_CHOICES",
    "OrtRunner",
    "ProviderReport",
    "SessionSettings",
    "available_providers",
    "clear_session_cache",
]
