"""What can be benchmarked: our backends at the levels that exist, and the peers.

A target is a name in one vocabulary shared by ``--targets``, the table, the
JSON and the plot:

- ``numpy-ref``: the reference interpreter on the traced graph (O0);
- ``numpy@O<k>``: backend ``numpy`` at level ``O<k>``, only where that
  differs from every lower column. ``numpy@O0`` exists only once ``numpy``
  is not the reference interpreter (``api.NUMPY_IS_REFERENCE``), and a higher
  level only once its pipeline differs from the level below
  (``api.level_passes``). The columns follow ``api`` by themselves, read at
  call time;
- ``ort-cpu`` / ``ort-cuda``: onnxruntime on our ONNX export at ``--level``
  (``ort-cuda`` only where onnxruntime has the CUDA provider);
- peers: ``onnx-reference`` (``onnx.reference.ReferenceEvaluator`` on our
  export at ``--level``), ``torch`` (PyTorch eager on the zoo model's twin
  with our weights) and ``torch-ort`` (onnxruntime on PyTorch's own ONNX
  export of the twin). The torch peers need torch (the ``bench`` extra) and
  a twin, which only zoo models have.

Whether a target can run is decided where it is cheapest to know:
``not available`` (no CUDA provider) and ``not applicable`` (no twin) here,
in the parent; ``not installed`` (an import fails) in the worker, which is
the process that would import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nanograph import api
from nanograph.ir.errors import ConfigError

NOT_AVAILABLE = "not available"
NOT_APPLICABLE = "not applicable"
NOT_INSTALLED = "not installed"
TORCH_TARGETS = ("torch", "torch-ort")


@dataclass(frozen=True)
class Target:
    """A benchmark target: ``name`` (CLI vocabulary), what it runs, and its pipeline ``level``.

    ``family`` says which worker code runs it (``numpy-ref``, ``numpy``,
    ``ort-cpu``, ``ort-cuda``, ``onnx-reference``, ``torch``, ``torch-ort``);
    ``level`` is ``None`` where no nanograph pipeline is involved (torch peers).
    """

    name: str
    family: str
    description: str
    level: str | None
    peer: bool = False

    @property
    def needs_twin(self) -> bool:
        return self.family in TORCH_TARGETS


def distinct_levels(backend: str | None = None) -> list[str]:
    """``O0`` and every level whose pipeline (for ``backend``; None: the backend-neutral
    one) differs from the level below it."""
    shown: list[str] = []
    previous: tuple[str, ...] | None = None
    for level in api.LEVELS:  # read at call time: the columns follow what api.py declares
        passes = api.level_passes(level, backend)
        if previous is None or passes != previous:
            shown.append(level)
        previous = passes
    return shown


def numpy_levels() -> list[str]:
    """The levels at which backend ``numpy`` has a column of its own (see the module docstring)."""
    levels = distinct_levels("numpy")  # at O3 the NumPy backends add layout planning
    return levels if not api.NUMPY_IS_REFERENCE else [level for level in levels if level != "O0"]


def known_targets(level: str) -> list[Target]:
    """Every target this version of nanograph has, in display order; ``level`` is ``--level``."""
    targets = [Target("numpy-ref", "numpy-ref", "NumPy reference interpreter", "O0")]
    for numpy_level in numpy_levels():
        name = f"numpy@{numpy_level}"
        targets.append(Target(name, "numpy", f"NumPy executor at {numpy_level}", numpy_level))
    targets += [
        Target("ort-cpu", "ort-cpu", f"onnxruntime CPU on our export at {level}", level),
        Target("ort-cuda", "ort-cuda", f"onnxruntime CUDA on our export at {level}", level),
        Target(
            "onnx-reference",
            "onnx-reference",
            f"onnx.reference.ReferenceEvaluator on our export at {level}",
            level,
            peer=True,
        ),
        Target("torch", "torch", "PyTorch eager on the zoo model's twin", None, peer=True),
        Target(
            "torch-ort",
            "torch-ort",
            "onnxruntime CPU on torch.onnx.export of the twin (opset 17)",
            None,
            peer=True,
        ),
    ]
    return targets


def select_targets(names: Sequence[str] | None, level: str) -> list[Target]:
    """The targets named (in display order), all known ones for ``None``; ``ConfigError`` else."""
    known = {t.name: t for t in known_targets(level)}
    if names is None:
        return list(known.values())
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown benchmark target {name!r}", hint=_unknown_hint(name, known))
    return [t for t in known.values() if t.name in set(names)]


def _unknown_hint(name: str, known: dict[str, Target]) -> str:
    listed = f"targets here: {', '.join(known)}"
    family, _, level = name.partition("@")
    if family == "numpy" and (level in api.LEVELS or not level):
        return (
            f"backend numpy at {level or 'any level'} runs the same code as a column already "
            "listed (a level whose pipeline adds no pass for backend numpy changes nothing), "
            f"so it has no column of its own; {listed}"
        )
    return listed


def unavailable_reason(target: Target, has_twin: bool, cuda: bool) -> tuple[str, str] | None:
    """``(status, reason)`` if ``target`` cannot run here for this model, else ``None``.

    ``has_twin``: the model has a PyTorch twin (a zoo model); ``cuda``:
    onnxruntime offers the CUDA execution provider.
    """
    if target.family == "ort-cuda" and not cuda:
        return NOT_AVAILABLE, "no CUDA provider (install onnxruntime-gpu on a machine with CUDA)"
    if target.needs_twin and not has_twin:
        return NOT_APPLICABLE, "no PyTorch twin (only zoo models have torch_model())"
    return None


def cuda_available() -> bool:
    """Whether onnxruntime offers ``CUDAExecutionProvider`` (imports onnxruntime)."""
    from nanograph.backends.ort import available_providers

    return "CUDAExecutionProvider" in available_providers()
