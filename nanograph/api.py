"""The public API: ``compile`` a graph at a level for a backend, and call the result.

One vocabulary everywhere (Python API and CLI):

- levels ``O0`` (no passes), ``O1`` (canonicalize), ``O2`` (+ fusions),
  ``O3`` (+ layout and memory planning);
- backends ``numpy-ref`` (reference interpreter), ``numpy`` (planned
  executor), ``ort-cpu`` and ``ort-cuda`` (onnxruntime).

What exists today, and what ``CompileReport.notes`` says plainly: no passes
exist yet, so every level runs the empty O0 pipeline; ``numpy`` runs the
reference interpreter until the planned executor lands with the layout issue;
the onnxruntime backends arrive with the ONNX issue and are refused until then.

``compile`` never mutates the caller's graph: it works on a copy (constant
arrays are shared, read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nanograph.backends.reference import ReferenceInterpreter
from nanograph.ir.errors import ConfigError, InputError
from nanograph.ir.graph import Graph
from nanograph.ir.verify import verify

LEVELS: dict[str, str] = {
    "O0": "no passes",
    "O1": "canonicalization",
    "O2": "O1 + fusions",
    "O3": "O2 + layout and memory planning",
}
BACKENDS: dict[str, str] = {
    "numpy-ref": "NumPy reference interpreter (the oracle)",
    "numpy": "planned NumPy executor (for now: the reference interpreter)",
    "ort-cpu": "onnxruntime, CPU provider (arrives with the ONNX issue)",
    "ort-cuda": "onnxruntime, CUDA provider (arrives with the ONNX issue)",
}
_NOT_YET = ("ort-cpu", "ort-cuda")


@dataclass(frozen=True)
class CompileReport:
    """What ``compile`` did: the passes it ran and what they changed, in plain words.

    ``pipeline`` lists the passes run, in order (empty until passes exist);
    ``nodes_before``/``nodes_after`` count nodes of the input graph and of the
    compiled one; ``notes`` say where the result differs from what the level
    and backend promise.
    """

    level: str
    backend: str
    pipeline: tuple[str, ...]
    nodes_before: int
    nodes_after: int
    notes: tuple[str, ...]

    def __str__(self) -> str:
        passes = ", ".join(self.pipeline) or "none"
        lines = [
            f"level {self.level}, backend {self.backend}",
            f"passes: {passes}",
            f"nodes: {self.nodes_before} -> {self.nodes_after}",
        ]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


class Compiled:
    """A graph compiled for one backend: call it with arrays by input name.

    ``exe(x=arr)`` or ``exe({"x": arr})`` returns a dict of outputs by name.
    ``graph`` is the compiled graph (the compiler's own copy).
    """

    def __init__(self, graph: Graph, report: CompileReport, runner: ReferenceInterpreter) -> None:
        self.graph = graph
        self.report = report
        self._runner = runner

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]

    def __call__(
        self, feeds: Mapping[str, Any] | None = None, /, **named: Any
    ) -> dict[str, np.ndarray]:
        """Run on ``feeds`` and/or keyword arrays; raises ``InputError`` on bad inputs."""
        if feeds is not None and not isinstance(feeds, Mapping):
            raise InputError(
                f"pass inputs by name, got a positional {type(feeds).__name__}",
                hint=f"call exe({', '.join(f'{n}=...' for n in self.input_names)}) "
                "or exe({'name': array, ...})",
            )
        merged = dict(feeds or {})
        twice = sorted(set(merged) & set(named))
        if twice:
            raise InputError(f"input(s) {', '.join(twice)} given both in the dict and by keyword")
        merged.update(named)
        return self._runner.run(merged, stacklevel=3)

    def __repr__(self) -> str:
        r = self.report
        return f"<Compiled {self.graph.name}: {r.level} on {r.backend}, {r.nodes_after} nodes>"


def compile(graph: Graph, level: str = "O0", backend: str = "numpy-ref") -> Compiled:
    """Verify a copy of ``graph``, run the passes of ``level``, build ``backend``'s runner.

    Raises ``ConfigError`` for an unknown level or backend (listing the valid
    ones) or one that does not exist yet; ``VerificationError`` for a broken
    graph; ``ExecutionError`` for constants without data.
    """
    _check_choice("level", level, LEVELS)
    _check_choice("backend", backend, BACKENDS)
    if backend in _NOT_YET:
        raise ConfigError(
            f"backend {backend!r} is not available yet: the onnxruntime backends arrive "
            "with the ONNX export issue",
            hint="use the numpy-ref or numpy backend for now",
        )
    work = graph.copy()
    verify(work)
    pipeline = _pipeline(level)
    for _, run_pass in pipeline:
        run_pass(work)
    report = CompileReport(
        level=level,
        backend=backend,
        pipeline=tuple(name for name, _ in pipeline),
        nodes_before=len(graph.nodes),
        nodes_after=len(work.nodes),
        notes=tuple(_notes(level, backend)),
    )
    return Compiled(work, report, ReferenceInterpreter(work))


def _check_choice(what: str, value: object, choices: Mapping[str, str]) -> None:
    if value not in choices:
        listed = "; ".join(f"{name} ({meaning})" for name, meaning in choices.items())
        raise ConfigError(f"unknown {what} {value!r}", hint=f"valid {what}s: {listed}")


def _pipeline(level: str) -> list[tuple[str, Callable[[Graph], object]]]:
    """The passes of ``level``, in order. None exist yet, so every level is empty."""
    return []


def _notes(level: str, backend: str) -> list[str]:
    notes = []
    if level != "O0":
        notes.append(
            f"no passes exist yet, so {level} runs the O0 pipeline (no passes); "
            "canonicalization, fusions and layout/memory planning arrive with later issues"
        )
    if backend == "numpy":
        notes.append(
            "backend 'numpy' is currently the reference interpreter (numpy-ref); "
            "the planned executor comes with the layout issue"
        )
    return notes


__all__ = ["BACKENDS", "LEVELS", "CompileReport", "Compiled", "ConfigError", "compile"]
