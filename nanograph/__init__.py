"""nanograph: a compiler and runtime for small neural networks.

A model written in a small PyTorch-like DSL is traced into a typed graph IR,
printed, optimized by passes and run by a backend::

    import nanograph as ng
    model, spec = ng.zoo.MODELS["vit_tiny"].build()
    graph = ng.trace(model, spec)
    print(ng.print_graph(graph))
    outs = ng.compile(graph)(spec.random_inputs())

The core (IR, specs, errors, ``compile``) is imported eagerly. The DSL
(``trace``, ``nn``, ``F``), the text form, ``verify``, ``specialize`` and the
zoo load on first use, which keeps ``import nanograph`` (and the CLI) quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from nanograph.api import BACKENDS, LEVELS, CompileReport, Compiled, ConfigError, compile
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.ir import errors
from nanograph.ir.errors import (
    InputError,
    ModelLoadError,
    NanographError,
    ShapeError,
    VerificationError,
)
from nanograph.ir.graph import Graph
from nanograph.ir.types import DType, TensorType

# name -> (module, attribute or None for the module itself), loaded on first access
_LAZY: dict[str, tuple[str, str | None]] = {
    "trace": ("nanograph.frontend", "trace"),
    "nn": ("nanograph.frontend.nn", None),
    "functional": ("nanograph.frontend.functional", None),
    "F": ("nanograph.frontend.functional", None),
    "print_graph": ("nanograph.ir.text", "print_graph"),
    "parse_graph": ("nanograph.ir.text", "parse_graph"),
    "verify": ("nanograph.ir.verify", "verify"),
    "specialize": ("nanograph.ir.specialize", "specialize"),
    "zoo": ("nanograph.zoo", None),
}


def __getattr__(name: str) -> Any:
    """Load the lazily exported names of ``_LAZY`` (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'nanograph' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BACKENDS",
    "LEVELS",
    "CompileReport",
    "Compiled",
    "ConfigError",
    "DType",
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
    *_LAZY,
]
