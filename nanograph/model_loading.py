"""Resolving a CLI ``MODEL`` argument: a zoo name, a Python file with ``build()``,
or an ONNX file.

``build(seed: int = 0)`` returns ``(module, spec)``: the DSL module and its
inputs (a ``ModelSpec``, one ``InputSpec`` or a list of them). Every failure is
a ``ModelLoadError`` that says what MODEL may be and lists the zoo's names;
errors inside a user's file name the file and line. Nanograph errors raised by
``build()`` itself (e.g. a ``StateDictError``) pass through unchanged.

An ``.onnx`` MODEL is imported (``import_onnx``); its ``module`` replays the
imported graph when traced, so ``trace(module, spec)`` gives that graph back,
and ``graph`` holds it. Its spec is read from the graph's inputs (ONNX names,
symbolic dims). Integer inputs need a value range for random examples: it is
``[0, n)`` where ``n`` is the smallest table the input indexes through
``gather`` (token ids below the vocabulary size), else ``[0, 2)``, which an
``InputRangeWarning`` reports.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from nanograph.backends.memory_estimate import MemoryEstimate, largest, type_bytes
from nanograph.backends.memory_limit import INHERIT, check_memory, format_bytes, refusal_hint
from nanograph.frontend.spec import InputSpec, ModelSpec, as_model_spec
from nanograph.ir.errors import (
    InputRangeWarning,
    ModelLoadError,
    NanographError,
    ResourceLimitError,
    TraceError,
)
from nanograph.ir.graph import Graph, Value

MAX_ARRAY_BYTES = 2**63 - 1
"""The most bytes NumPy can address in one array (its ``intp`` is 64-bit)."""


@dataclass(frozen=True)
class LoadedModel:
    """A built model: its name (zoo name or file stem), the DSL module, its input spec,
    and for an imported ONNX model the imported graph."""

    name: str
    module: Any
    spec: ModelSpec
    graph: Graph | None = None
    source: Path | None = None

    def trace(self, dims: Mapping[str, int] | None = None) -> Graph:
        """The model traced into a graph named after it; ``dims`` (e.g. from ``--dims``)
        bind symbols, refusing any that no input uses.

        An exception raised by the model's own code while tracing (its
        ``forward`` raising ``ValueError``, say) becomes a ``TraceError`` naming
        the model file's line (the innermost frame in ``source``, else the
        innermost outside nanograph and the libraries), the original type and
        message, with the original as ``__cause__``.
        """
        from nanograph.frontend.trace import trace
        from nanograph.ir.specialize import specialize

        try:
            graph = trace(self.module, self.spec, name=self.name)
        except NanographError:
            raise
        except Exception as err:
            raise _user_error(
                f"tracing {self.name} failed in the model's code", err, self.source, TraceError
            ) from err
        if dims:
            self.spec.resolve_dims(dims)
            graph = specialize(graph, dims)
        return graph

    def random_inputs(
        self, seed: int = 0, dims: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray]:
        """``spec.random_inputs(seed, dims)``, refused with ``ResourceLimitError`` before
        drawing anything when they need more than the process-wide memory limit.

        The estimate is the inputs' bytes plus the 8-byte-per-element draw (float64
        or int64) NumPy makes for the largest before casting it.
        """
        bound = self.spec.resolve_dims(dims)
        sizes = [type_bytes(s.name, s.type, bound) for s in self.spec]
        elements = [t.nbytes // s.dtype.itemsize for s, t in zip(self.spec, sizes, strict=True)]
        draw = 8 * max(elements, default=0)
        total = sum(t.nbytes for t in sizes) + draw
        estimate = MemoryEstimate(total, "its random inputs", largest(sizes))
        check_memory(estimate, INHERIT, graph=self.name, dims=bound)
        if draw > MAX_ARRAY_BYTES:  # even with no limit: NumPy cannot make such an array
            self._refuse(estimate, bound, "which is more than NumPy can index in one array")
        try:
            return self.spec.random_inputs(seed, dims)
        except MemoryError as err:  # with the limit lifted, the machine has the last word
            self._refuse(estimate, bound, f"which NumPy could not allocate ({err})")

    def _refuse(self, estimate: MemoryEstimate, bound: Mapping[str, int], why: str) -> NoReturn:
        """``ResourceLimitError`` for random inputs that cannot be made at all."""
        binding = ", ".join(f"{k}={v}" for k, v in bound.items())
        at = f" at {binding}" if binding else ""
        big = estimate.largest
        biggest = f"; the largest is %{big.name}: {big.type}" if big is not None else ""
        raise ResourceLimitError(
            f"graph {self.name}{at} needs at least {format_bytes(estimate.total)} "
            f"({estimate.total} bytes) for its random inputs, {why}{biggest}",
            loc=f"%{big.name} (input of graph {self.name})" if big else f"graph {self.name}",
            hint=refusal_hint(estimate.total, binding),
        )


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
        return load_onnx_model(path)
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
        hint=f"MODEL is a zoo name ({_zoo_names()}), a path to a .py file with build(), "
        "or an .onnx file",
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
        raise _user_error(f"importing {path} failed", err, path, importing=True) from err
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
    source = Path(module.__file__) if module.__file__ else None
    try:
        return LoadedModel(name, model, as_model_spec(spec), source=source)
    except NanographError as err:
        raise _load_error(f"{ref}: build() returned a bad spec: {err.message}") from None


def _user_error(
    what: str,
    err: Exception,
    path: Path | None,
    kind: type[NanographError] = ModelLoadError,
    *,
    importing: bool = False,
) -> NanographError:
    """A ``kind`` error for an exception raised by a model file's own code.

    It names the file and line (the innermost frame of ``err``'s traceback in
    ``path``; else the innermost outside nanograph and the installed libraries;
    for a ``SyntaxError``, its line), the original exception's type and
    message, and how to fix it.
    """
    where = ""
    if path is not None and isinstance(err, SyntaxError) and err.lineno:
        where = f"{path}:{err.lineno}"
    frames = traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if path is not None and _same_file(f.filename, path)]
    theirs = [f for f in frames if not _is_library(f.filename)]
    for frame in (mine or theirs)[-1:]:
        where = f"{path if mine else frame.filename}:{frame.lineno}"
    place = f" at {where}" if where else (f" in {path}" if path is not None else "")
    return kind(
        f"{what}: {type(err).__name__}: {err}",
        loc=where or (str(path) if path is not None else ""),
        hint=f"this is an error in the model's own code, not in nanograph: fix it{place}"
        + (f" (python {path} shows the full traceback)" if importing else ""),
    )


def _same_file(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _library_roots() -> tuple[str, ...]:
    """Folders of nanograph's own code (not the zoo) and of Python and installed packages."""
    import sysconfig

    import nanograph

    own = [Path(nanograph.__file__).parent, *(Path(nanograph.__file__).parent / d for d in _OWN)]
    paths = sysconfig.get_paths()
    stdlib = [Path(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    return tuple(str(p.resolve()) + "/" for p in own + stdlib)


_OWN = ("frontend", "ir", "passes", "backends", "bench", "inspection")


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen ...>, <string>: not a model file
        return True
    resolved = str(Path(filename).resolve())
    return resolved.startswith(_library_roots()) and "/zoo/" not in filename


# ONNX files ----------------------------------------------------------------------------
class GraphModule:
    """A callable that replays ``graph`` into the graph being traced (for ``trace``).

    Tracing it on the graph's inputs gives a copy of ``graph``: same nodes,
    attributes, locations, value and output names, constants by name.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.__name__ = graph.name

    def __call__(self, *tensors: Any) -> dict[str, Any]:
        from nanograph.frontend.tensor import Tensor
        from nanograph.frontend.tracer import current_tracer

        target = current_tracer("an imported ONNX graph").graph
        values: dict[int, Value] = {
            id(v): t.value for v, t in zip(self.graph.inputs, tensors, strict=True)
        }
        for name, constant in self.graph.constants.items():
            values[id(constant)] = target.add_constant(target.unique_name(name), constant.const)
        for node in self.graph.nodes:
            inputs = [values[id(v)] for v in node.inputs]
            names = [v.name for v in node.outputs]
            copy = target.add(node.op, inputs, node.attrs, loc=node.loc, names=names)
            values.update(zip((id(v) for v in node.outputs), copy.outputs, strict=True))
        return {v.name: Tensor(values[id(v)]) for v in self.graph.outputs}


_INDEX_PRESERVING = {
    "cast",
    "reshape",
    "unsqueeze",
    "squeeze",
    "flatten",
    "identity",
    "expand",
    "slice",
    "transpose",
    "concat",
}


def table_size(value: Value) -> int | None:
    """The smallest static table length that ``value``'s elements index through ``gather``."""
    sizes: list[int] = []
    seen: set[int] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for node, index in current.uses:
            if node.op == "gather" and index == 1:
                data = node.inputs[0].type
                dim = data.shape[node.attrs["axis"] % data.rank]
                if isinstance(dim, int):
                    sizes.append(dim)
            elif node.op in _INDEX_PRESERVING:
                stack.extend(node.outputs)
    return min(sizes) if sizes else None


def onnx_model_spec(graph: Graph) -> ModelSpec:
    """Input specs of an imported graph; guessed integer ranges are reported as warnings."""
    specs = []
    for value in graph.inputs:
        value_range = None
        if value.type.dtype.is_int:
            size = table_size(value)
            if size is None:
                warnings.warn(
                    f"input {value.name!r} ({value.type}) indexes no table, so its random "
                    "values are drawn from [0, 2); pass --inputs to choose them",
                    InputRangeWarning,
                    stacklevel=3,
                )
            value_range = (0.0, float(size if size is not None else 2))
        specs.append(InputSpec(value.name, value.type.shape, value.type.dtype, value_range))
    return ModelSpec(specs)


def load_onnx_model(path: Path) -> LoadedModel:
    """Import an ``.onnx`` MODEL (``OnnxLoadError`` is a ``ModelLoadError``)."""
    from nanograph.frontend.onnx_import import import_onnx

    graph = import_onnx(path)
    return LoadedModel(path.stem, GraphModule(graph), onnx_model_spec(graph), graph)


__all__ = [
    "GraphModule",
    "LoadedModel",
    "describe_model",
    "load_model",
    "load_onnx_model",
    "onnx_model_spec",
    "zoo_models",
]
