"""The benchmark JSON's schema (version 1), as data, and a checker for it.

``benchmarks/README.md`` documents the same keys in words. ``problems(doc)``
returns what is wrong with a document (empty when it conforms): every key
listed here must be present with a value of the given type (extra keys are
allowed, so later versions can add some), plus the rules types cannot say:
``schema_version`` is ``SCHEMA_VERSION``, statuses come from ``STATUSES``,
exactly the ``ok`` results have samples and stats, every result's target and
model are declared, and the baseline is one of the targets.

A spec is a type, ``None`` (JSON null), a tuple of alternatives, a dict (an
object with those keys) or a one-element list (an array of that spec).
"""

from __future__ import annotations

from typing import Any

from nanograph.bench.results import SCHEMA_VERSION

STATUSES = ("ok", "failed", "error", "not installed", "not available", "not applicable")
NUMBER = (int, float)
MAYBE_NUMBER = (int, float, None)
STATS = {
    "reps": int,
    "median_ns": NUMBER,
    "min_ns": int,
    "max_ns": int,
    "p10_ns": NUMBER,
    "p90_ns": NUMBER,
}
RESULT = {
    "model": str,
    "target": str,
    "batch": int,
    "threads": int,
    "status": str,
    "reason": str,
    "max_abs_diff": MAYBE_NUMBER,
    "flops": (int, None),
    "warmup_ns": [int],
    "samples_ns": [int],
    "stats": (STATS, None),
    "items_per_s": MAYBE_NUMBER,
    "gflops": MAYBE_NUMBER,
    "peak_fraction": MAYBE_NUMBER,
    "ratio_to_baseline": MAYBE_NUMBER,
    "worker": (dict, None),
}
PEAK = {"threads": int, "gflops": MAYBE_NUMBER, "size": (int, None), "by_size": dict}
MODEL = {"name": str, "ref": str, "dims": dict, "batch_symbol": (str, None), "flops": dict}
TARGET = {"name": str, "family": str, "description": str, "level": (str, None), "peer": bool}
ENVIRONMENT = {"cpu": str, "logical_cores": (int, None), "python": str, "packages": dict}
CONFIG = {"models": [str], "batches": [int], "threads": [int], "level": str, "timing": dict}
DOCUMENT = {
    "schema_version": int,
    "tool": str,
    "config": CONFIG,
    "method": dict,
    "environment": ENVIRONMENT,
    "baseline": str,
    "gemm_peak": [PEAK],
    "models": [MODEL],
    "targets": [TARGET],
    "results": [RESULT],
}


def problems(document: Any) -> list[str]:
    """Everything wrong with ``document`` against the schema (see the module docstring)."""
    found: list[str] = []
    _check(document, DOCUMENT, "$", found)
    if found:
        return found
    if document["schema_version"] != SCHEMA_VERSION:
        found.append(f"$.schema_version: {document['schema_version']}, expected {SCHEMA_VERSION}")
    targets = {t["name"] for t in document["targets"]}
    models = {m["name"] for m in document["models"]}
    if document["baseline"] not in targets:
        found.append(f"$.baseline: {document['baseline']!r} is not a target")
    for i, result in enumerate(document["results"]):
        where = f"$.results[{i}]"
        if result["status"] not in STATUSES:
            found.append(f"{where}.status: {result['status']!r} not in {STATUSES}")
        if result["target"] not in targets or result["model"] not in models:
            found.append(f"{where}: undeclared target or model")
        timed = result["status"] == "ok"
        if timed != bool(result["samples_ns"]) or timed != (result["stats"] is not None):
            found.append(f"{where}: samples and stats must be present exactly when status is ok")
    return found


def _check(value: Any, spec: Any, path: str, found: list[str]) -> None:
    if isinstance(spec, tuple):
        if not any(_matches(value, alternative) for alternative in spec):
            found.append(f"{path}: {_name(value)} is not {_describe(spec)}")
        else:
            chosen = next(a for a in spec if _matches(value, a))
            if isinstance(chosen, (dict, list)):
                _check(value, chosen, path, found)
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            found.append(f"{path}: {_name(value)} is not an object")
            return
        for key, sub in spec.items():
            if key not in value:
                found.append(f"{path}: missing key {key!r}")
            else:
                _check(value[key], sub, f"{path}.{key}", found)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            found.append(f"{path}: {_name(value)} is not an array")
            return
        for i, item in enumerate(value):
            _check(item, spec[0], f"{path}[{i}]", found)
    elif not _matches(value, spec):
        found.append(f"{path}: {_name(value)} is not {_describe(spec)}")


def _matches(value: Any, spec: Any) -> bool:
    """Whether ``value`` has the shape of ``spec`` at the top level (bool is not a number)."""
    if spec is None:
        return value is None
    if isinstance(spec, tuple):
        return any(_matches(value, s) for s in spec)
    if isinstance(spec, dict):
        return isinstance(value, dict)
    if isinstance(spec, list):
        return isinstance(value, list)
    if spec in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, spec)


def _describe(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_describe(s) for s in spec)
    if spec is None:
        return "null"
    if isinstance(spec, (dict, list)):
        return "an object" if isinstance(spec, dict) else "an array"
    return str(spec.__name__)


def _name(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]
