"""nanograph: a compiler and runtime for small neural networks.

A model written in a small PyTorch-like DSL is traced into a typed graph IR,
printed, optimized by passes and run by a backend::

    import nanograph as ng
    model, spec = ng.zoo.vit_tiny.build()
    graph = ng.trace(model, spec)
    print(ng.print_graph(graph))
    outs = ng.compile(graph)(spec.random_inputs())
    ng.export_onnx(graph, "vit_tiny.onnx")          # level O2, opset 23

``ng.zoo`` loads on first use: the zoo's models import ``nanograph`` themselves,
and ``import nanograph`` (and so the CLI) stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from nanograph.api import BACKENDS, LEVELS, Compiled, CompileReport, ConfigError, compile
from nanograph.backends.memory_limit import memory_limit, set_memory_limit
from nanograph.export import export_onnx
from nanograph.frontend import functional, nn
from nanograph.frontend import functional as F
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.trace import trace
from nanograph.ir import errors
from nanograph.ir.errors import (
    InputError,
    ModelLoadError,
    NanographError,
    ResourceLimitError,
    ShapeError,
    VerificationError,
)
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import specialize
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.types import DType, TensorType
from nanograph.ir.verify import verify


def __getattr__(name: str) -> Any:
    """``nanograph.zoo``, imported on first access (PEP 562)."""
    if name == "zoo":
        return importlib.import_module("nanograph.zoo")
    raise AttributeError(f"module 'nanograph' has no attribute {name!r}")


def import_onnx(model: Any) -> Graph:
    """Import an ONNX model (path, bytes or ``ModelProto``) as a verified ``Graph``.

    See ``nanograph.frontend.onnx_import.import_onnx``; imported on first call,
    so ``import nanograph`` does not load onnx.
    """
    from nanograph.frontend.onnx_import import import_onnx as _import_onnx

    return _import_onnx(model)


__all__ = [
    "BACKENDS",
    "LEVELS",
    "CompileReport",
    "Compiled",
    "ConfigError",
    "DType",
    "F",
    "Graph",
    "InputError",
    "InputSpec",
    "ModelLoadError",
    "ModelSpec",
    "NanographError",
    "ResourceLimitError",
    "ShapeError",
    "TensorType",
    "VerificationError",
    "compile",
    "errors",
    "export_onnx",
    "functional",
    "import_onnx",
    "memory_limit",
    "nn",
    "parse_graph",
    "print_graph",
    "set_memory_limit",
    "specialize",
    "trace",
    "verify",
]
