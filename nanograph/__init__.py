"""nanograph: a compiler and runtime for small neural networks.

A model written in a small PyTorch-like DSL is traced into a typed graph IR,
printed, optimized by passes and run by a backend::

    import nanograph as ng
    model, spec = ng.zoo.vit_tiny.build()
    graph = ng.trace(model, spec)
    print(ng.print_graph(graph))
    outs = ng.compile(graph)(spec.random_inputs())

``ng.zoo`` loads on first use: the zoo's models import ``nanograph`` themselves,
and ``import nanograph`` (and so the CLI) stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from nanograph.api import BACKENDS, LEVELS, Compiled, CompileReport, ConfigError, compile
from nanograph.frontend import functional, nn
from nanograph.frontend import functional as F
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.trace import trace
from nanograph.ir import errors
from nanograph.ir.errors import (
    InputError,
    ModelLoadError,
    NanographError,
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
    "ShapeError",
    "TensorType",
    "VerificationError",
    "compile",
    "errors",
    "functional",
    "nn",
    "parse_graph",
    "print_graph",
    "specialize",
    "trace",
    "verify",
]
