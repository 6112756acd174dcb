"""Resolving a CLI ``MODEL`` argument: a zoo name or a Python file with ``build()``.

``build(seed: int = 0)`` returns ``(module, spec)``: the DSL module and its
inputs (a ``ModelSpec``, one ``InputSpec`` or a list of them). Every failure is
a ``ModelLoadError`` that says what MODEL may be and lists the zoo's names;
errors inside a user's file name the file and line. Nanograph errors raised by
``build()`` itself (e.g. a ``StateDictError``) pass through unchanged.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from nanograph.frontend.spec import ModelSpec, as_model_spec
from nanograph.ir.errors import ModelLoadError, NanographError


@dataclass(frozen=True)
class LoadedModel:
    """A built model: its name (zoo name or file stem), the DSL module, its input spec."""

    name: str
    module: Any
    spec: ModelSpec


def zoo_models() -> dict[str, ModuleType]:
    """``nanograph.zoo.MODELS``: zoo name -> model module (each with ``build()``)."""
    import nanograph.zoo

    models = getattr(nanograph.zoo, "MODELS", None)
    if not isinstance(models, dict):
        raise ModelLoadError("the model zoo (nanograph.zoo.MODELS) is not available")
    return models


def describe_model(module: ModuleType) -> str:
    """The first line of a zoo module's docstring."""
    return (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""


def load_model(ref: str) -> LoadedModel:
    """Build MODEL ``ref``: a path (ends in ``.py`` or contains ``/``), else a zoo name."""
    path = Path(ref)
    if ref.endswith(".onnx"):
        raise _load_error(f"cannot load {ref}: ONNX models arrive with the ONNX import issue")
    if ref.endswith(".py") or "/" in ref:
        return _build(path.stem, _import_file(path), ref)
    models = zoo_models()
    if ref not in models:
        close = difflib.get_close_matches(ref, models, n=1)
        guess = f" (did you mean {close[0]}?)" if close else ""
        raise _load_error(f"unknown model {ref!r}{guess}")
    return _build(ref, models[ref], ref)


def _zoo_names() -> str:
    try:
        return ", ".join(sorted(zoo_models())) or "(none)"
    except Exception:  # the zoo itself is broken: still explain what MODEL may be
        return "(the zoo could not be loaded)"


def _load_error(message: str) -> ModelLoadError:
    return ModelLoadError(
        message,
        hint=f"MODEL is a zoo name ({_zoo_names()}) or a path to a .py file with build()",
    )


def _import_file(path: Path) -> ModuleType:
    """Execute the file as a fresh module (registered in ``sys.modules`` while it runs)."""
    if not path.is_file():
        raise _load_error(f"no such file: {path}")
    name = f"nanograph_user_model_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _load_error(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except NanographError:
        raise
    except Exception as err:
        sys.modules.pop(name, None)
        raise _user_error(f"importing {path} failed", err, path) from err
    return module


def _build(name: str, module: ModuleType, ref: str) -> LoadedModel:
    build = getattr(module, "build", None)
    if not callable(build):
        raise _load_error(f"{ref} defines no build() function")
    try:
        result = build()
    except NanographError:
        raise
    except Exception as err:
        raise _user_error(f"{ref}: build() failed", err, Path(module.__file__ or ref)) from err
    if not (isinstance(result, tuple) and len(result) == 2):
        raise _load_error(f"{ref}: build() must return (module, spec), got {type(result).__name__}")
    model, spec = result
    try:
        return LoadedModel(name, model, as_model_spec(spec))
    except NanographError as err:
        raise _load_error(f"{ref}: build() returned a bad spec: {err.message}") from None


def _user_error(what: str, err: Exception, path: Path) -> ModelLoadError:
    """A ModelLoadError naming the innermost line of ``path`` in ``err``'s traceback."""
    where = ""
    if isinstance(err, SyntaxError) and err.lineno:
        where = f"{path}:{err.lineno}"
    for frame in traceback.extract_tb(err.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            where = f"{path}:{frame.lineno}"
    return ModelLoadError(f"{what}: {type(err).__name__}: {err}", loc=where)


__all__ = ["LoadedModel", "describe_model", "load_model", "zoo_models"]
