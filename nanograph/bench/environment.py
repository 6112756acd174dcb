"""What machine and software a benchmark ran on, and the thread settings a process really has.

``describe_environment()`` (the parent process) gives the CPU model, core
counts, memory, OS, the versions of Python and every library the targets use
(read from package metadata, so torch is not imported just to name its
version) and NumPy's BLAS as NumPy reports it. ``thread_report()`` (each
worker) gives the pinning variables the process saw and the thread count the
loaded BLAS library itself reports, so a pinning that did not take is visible.
``OtherLoad`` measures how many cores *other* processes kept busy while a
worker ran: timings taken on a shared machine are only as good as that.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from nanograph.bench.jobs import HIDE_VARIABLE, PINNING_VARIABLES

PACKAGES = ("nanograph", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "torch", "onnxscript")
_BLAS_THREAD_QUERIES = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
    "MKL_Get_Max_Threads",
)


def describe_environment() -> dict[str, Any]:
    """The machine and software (see the module docstring); JSON-ready."""
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "blas": blas_info(),
        "hidden_modules": os.environ.get(HIDE_VARIABLE, ""),
    }


def cpu_model() -> str:
    """``model name`` from ``/proc/cpuinfo``, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: name, version and configuration line as ``numpy.show_config`` gives them."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # older NumPy has no mode=
        return {}
    blas = dict((config or {}).get("Build Dependencies", {}).get("blas", {}))
    keep = ("name", "version", "openblas configuration")
    return {k: v for k, v in blas.items() if k in keep}


def thread_report() -> dict[str, Any]:
    """This process's pinning variables and the BLAS library's own thread count."""
    return {
        "env": {name: os.environ.get(name) for name in PINNING_VARIABLES},
        "blas_threads": blas_threads(),
    }


def blas_threads() -> int | None:
    """The thread count the loaded BLAS reports (OpenBLAS or MKL); ``None`` if unknown."""
    for path in _loaded_blas_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _BLAS_THREAD_QUERIES:
            query = getattr(library, symbol, None)
            if query is not None:
                return int(query())
    return None


def _loaded_blas_libraries() -> list[str]:
    """Paths of loaded shared libraries whose name says BLAS (Linux: ``/proc/self/maps``)."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps if line.count("/") and ".so" in line}
    return sorted(p for p in paths if "blas" in p.lower() or "mkl_rt" in p.lower())


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class OtherLoad:
    """Cores kept busy by processes other than this one and its children, over a ``with`` block.

    ``cores`` (after the block) = (the machine's busy CPU time from
    ``/proc/stat`` minus this process's and its waited-for children's CPU
    time) / wall time; ``None`` where ``/proc/stat`` is unreadable. A worker
    must be waited for inside the block for its CPU time to count as ours.
    """

    def __init__(self) -> None:
        self.cores: float | None = None
        self._start: tuple[float, float, float] | None = None

    def __enter__(self) -> OtherLoad:
        self._start = _cpu_sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_sample()
        if self._start is None or end[0] < 0 or self._start[0] < 0:
            return
        busy, ours, wall = (b - a for a, b in zip(self._start, end, strict=True))
        self.cores = max(0.0, (busy - ours) / wall) if wall > 0 else None


def _cpu_sample() -> tuple[float, float, float]:
    """(machine busy CPU seconds or -1, our + children's CPU seconds, monotonic seconds)."""
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        ours += usage.ru_utime + usage.ru_stime
    return _machine_busy_seconds(), ours, time.monotonic()


def _machine_busy_seconds() -> float:
    """Busy CPU time of all cores since boot (user, nice, system, irq, softirq, steal)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(f) for f in fields]
    except (OSError, ValueError, IndexError):
        return -1.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK")
