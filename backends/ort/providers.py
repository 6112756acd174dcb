"""Choosing onnxruntime execution providers: ``"auto"``, ``"cpu"`` or ``"cuda"``.

Contracts:

- ``"cpu"`` is ``CPUExecutionProvider`` alone.
- ``"cuda"`` is ``CUDAExecutionProvider`` first, then ``CPUExecutionProvider``
  for the nodes CUDA has no kernel for (the profiling report shows which ran
  where). Where the installed onnxruntime lacks CUDA, or lists it but cannot
  load it (missing or mismatched CUDA/cuDNN libraries), ``"cuda"`` raises
  ``ProviderUnavailableError`` saying what is missing and how to fix it.
- ``"auto"`` is ``"cuda"`` where CUDA works, else CPU, with one
  ``ProviderFallbackWarning`` per process saying so.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import onnxruntime as ort

from nanograph.ir.errors import ConfigError, ProviderFallbackWarning, ProviderUnavailableError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES: dict[str, str] = {
    "auto": "CUDA where onnxruntime can use it, else CPU (with a warning, once)",
    "cpu": "CPUExecutionProvider only",
    "cuda": "CUDAExecutionProvider, with CPU for nodes CUDA has no kernel for",
}
INSTALL_CUDA = (
    "install onnxruntime-gpu in place of onnxruntime (pip uninstall onnxruntime && "
    "pip install onnxruntime-gpu), in a build that matches this machine's CUDA and cuDNN "
    "versions (onnxruntime's CUDA execution provider page lists them)"
)
FIX_CUDA = f"{INSTALL_CUDA}; or run on the CPU (backend ort-cpu, providers='cpu')"

_warned_fallback = False  # "auto" without CUDA says so once per process


def available_providers() -> list[str]:
    """The providers this onnxruntime build offers (one place, so tests can stand in for it)."""
    return list(ort.get_available_providers())


def resolve_providers(choice: str) -> tuple[str, ...]:
    """The providers to build a session with for ``choice``, best first.

    Raises ``ConfigError`` for an unknown choice and ``ProviderUnavailableError``
    for ``"cuda"`` where this onnxruntime has no CUDA provider; warns (once)
    for ``"auto"`` there.
    """
    if choice not in PROVIDER_CHOICES:
        listed = "; ".join(f"{k} ({v})" for k, v in PROVIDER_CHOICES.items())
        raise ConfigError(f"unknown providers {choice!r}", hint=f"valid choices: {listed}")
    if choice == "cpu":
        return (CPU,)
    if CUDA in available_providers():
        return (CUDA, CPU)
    if choice == "cuda":
        raise ProviderUnavailableError(
            f"onnxruntime's CUDAExecutionProvider is not available: this onnxruntime "
            f"({ort.__version__}) offers {', '.join(available_providers())}",
            hint=FIX_CUDA,
        )
    warn_fallback("this onnxruntime has no CUDAExecutionProvider")
    return (CPU,)


def check_session_providers(choice: str, asked: tuple[str, ...], got: list[str]) -> None:
    """Check that a session built with providers ``asked`` for ``choice`` really uses them.

    onnxruntime quietly drops a provider it lists but cannot load (CUDA without
    its libraries) and runs on CPU. Asked explicitly (``"cuda"``), that is a
    ``ProviderUnavailableError``; under ``"auto"`` it is the once-per-process warning.
    """
    if CUDA in asked and CUDA not in got:
        reason = (
            "onnxruntime lists CUDAExecutionProvider but could not load it "
            "(usually the CUDA or cuDNN libraries are missing or of another version)"
        )
        if choice == "cuda":
            raise ProviderUnavailableError(
                f"{reason}; the session would run on {', '.join(got)}", hint=FIX_CUDA
            )
        warn_fallback(reason)


def warn_fallback(reason: str) -> None:
    """Warn, once per process, that ``"auto"`` runs on the CPU, and why."""
    global _warned_fallback
    if _warned_fallback:
        return
    _warned_fallback = True
    warnings.warn(
        f"onnxruntime will run on the CPU: {reason}; to use a GPU, {INSTALL_CUDA}. "
        "(Said once per process.)",
        ProviderFallbackWarning,
        stacklevel=_caller_outside_nanograph(),
    )


def _caller_outside_nanograph() -> int:
    """The ``stacklevel`` of the first caller outside the nanograph package (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _in_nanograph(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def _in_nanograph(filename: str) -> bool:
    root = Path(__file__).resolve().parents[2]  # the repository root holds the layers
    path = Path(filename).resolve()
    return any(path.is_relative_to(root / layer) for layer in _LAYERS)


_LAYERS = ("nanograph", "ir", "frontend", "passes", "backends")


__all__ = [
    "CPU",
    "CUDA",
    "PROVIDER_CHOICES",
    "available_providers",
    "check_session_providers",
    "resolve_providers",
    "warn_fallback",
]
