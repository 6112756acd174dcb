"""onnxruntime sessions: their settings, how they are built, and the process-wide cache.

A session is built from a model's bytes or its ``.onnx`` path (a path, so
that onnxruntime finds external-data files next to it) with
``SessionSettings``, and cached per (model bytes' SHA-256, the path's folder
for a file, the providers it really uses, threads, optimization level,
spinning): building a session is the slow part (graph optimization, kernel
creation), so compiling the same graph twice reuses one session. The cache
keeps the ``cache_size`` most recently used sessions.

Each cached session profiles its first successful run only (see
``profiling``) to learn which provider ran each node; later runs are not
profiled, since profiling costs time on every node.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from nanograph.backends.ort.profiling import ProfileCapture, ProviderReport
from nanograph.backends.ort.providers import check_session_providers, resolve_providers
from nanograph.ir.errors import ConfigError, OnnxRuntimeError

OPTIMIZATION_LEVELS: dict[str, ort.GraphOptimizationLevel] = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class SessionSettings:
    """How to build a session; checked on creation (``ConfigError`` naming the valid values).

    - ``providers``: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see ``providers``).
    - ``threads``: onnxruntime's intra-op threads; ``None`` leaves onnxruntime's
      default (one per physical core). Inter-op threads are always 1: nodes run
      one after another (sequential execution), parallel inside each node.
    - ``optimization``: onnxruntime's graph optimization level, ``"disabled"``,
      ``"basic"``, ``"extended"`` or ``"all"`` (the default).
    - ``spinning``: whether idle worker threads busy-wait for work. Off by
      default: onnxruntime's spinning threads keep cores busy after a run and
      slowed NumPy work in the same process by 2x and more at 2 threads on a
      2-core machine (measured by the team), while the latency they save is
      small for models this size. Turn it on for back-to-back runs on an
      otherwise idle machine.
    """

    providers: str = "auto"
    threads: int | None = None
    optimization: str = "all"
    spinning: bool = False

    def __post_init__(self) -> None:
        threads = self.threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
            raise ConfigError(
                f"threads must be a positive int or None, got {threads!r}",
                hint="pass an int such as threads=2 (convert a string with int()), or leave it "
                "unset for onnxruntime's default",
            )
        if threads is not None and threads < 1:
            raise ConfigError(
                f"threads must be at least 1, got {threads}",
                hint="leave it unset (None) for onnxruntime's default",
            )
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ConfigError(
                f"unknown onnxruntime optimization level {self.optimization!r}",
                hint=f"valid levels: {', '.join(OPTIMIZATION_LEVELS)}",
            )

    def session_options(self, profile_prefix: str | None = None) -> ort.SessionOptions:
        """onnxruntime ``SessionOptions`` for these settings (profiling to ``profile_prefix``)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or 0  # 0: onnxruntime's default
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = OPTIMIZATION_LEVELS[self.optimization]
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        options.log_severity_level = 3  # errors only; node placement is in the provider report
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        return options


class OrtSession:
    """One onnxruntime ``InferenceSession`` and the provider report of its first run.

    ``providers`` are those the session really uses, best first (onnxruntime
    drops one it cannot load; ``cached_session`` checks). ``report`` is
    ``None`` until a run succeeds; that first run is profiled, later ones are
    not. ``run`` is safe to call from several threads.
    """

    def __init__(
        self, source: bytes | str, settings: SessionSettings, asked: tuple[str, ...], name: str
    ) -> None:
        self.name = name
        self._capture: ProfileCapture | None = ProfileCapture()
        self.session = _build(source, settings.session_options(self._capture.prefix), asked, name)
        self._capture.watch(self.session)
        self.providers: tuple[str, ...] = tuple(self.session.get_providers())
        self.report: ProviderReport | None = None
        self._lock = threading.Lock()

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The model's outputs, in order, for ``feeds`` keyed by the model's input names."""
        if self._capture is None:
            return _run(self.session, feeds, self.name)
        with self._lock:
            outputs = _run(self.session, feeds, self.name)
            if self._capture is not None:
                self.report = self._capture.harvest(self.session, self.providers)
                self._capture = None
        return outputs


_cache: OrderedDict[tuple[Any, ...], OrtSession] = OrderedDict()
_cache_lock = threading.Lock()
cache_size = 8


def cached_session(
    source: bytes | str, key: tuple[Any, ...], settings: SessionSettings, name: str
) -> OrtSession:
    """The session for ``source`` (model bytes or a path) with ``settings``, built at most once.

    ``key`` identifies the model (its bytes' digest, and for a file its
    folder). Raises as ``resolve_providers`` does, and ``OnnxRuntimeError``
    where onnxruntime refuses the model.
    """
    asked = resolve_providers(settings.providers)
    full_key = (*key, asked, settings.threads, settings.optimization, settings.spinning)
    with _cache_lock:
        hit = _cache.pop(full_key, None)
        if hit is None:
            hit = OrtSession(source, settings, asked, name)
        _cache[full_key] = hit  # most recent last
        while len(_cache) > cache_size:
            _cache.popitem(last=False)
    check_session_providers(settings.providers, asked, list(hit.providers))
    return hit


def clear_session_cache() -> None:
    """Forget every cached session (they are freed once no runner holds them)."""
    with _cache_lock:
        _cache.clear()


def profiled_session(source: bytes | str, settings: SessionSettings, name: str) -> OrtSession:
    """A fresh, uncached session whose next run is profiled (for an explicit ``profile`` call)."""
    asked = resolve_providers(settings.providers)
    entry = OrtSession(source, settings, asked, name)
    check_session_providers(settings.providers, asked, list(entry.providers))
    return entry


def _build(
    source: bytes | str, options: ort.SessionOptions, providers: Sequence[str], name: str
) -> ort.InferenceSession:
    try:
        with warnings.catch_warnings():
            # onnxruntime warns when a listed provider will not load; we check and say it ourselves
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            return ort.InferenceSession(source, options, providers=list(providers))
    except Exception as err:  # onnxruntime's errors derive from Exception only
        raise OnnxRuntimeError(
            f"onnxruntime cannot load model {name}: {err}",
            hint="check it with onnx.checker.check_model(model, full_check=True); an op this "
            "onnxruntime has no kernel for may need another opset or attention lowering",
        ) from err


def _run(session: ort.InferenceSession, feeds: Mapping[str, np.ndarray], name: str) -> Any:
    try:
        return session.run(None, dict(feeds))
    except Exception as err:  # onnxruntime's errors derive from Exception only
        raise OnnxRuntimeError(
            f"onnxruntime failed running model {name}: {err}",
            hint="the inputs passed nanograph's checks, so this is a limit of onnxruntime "
            "or a model it runs differently; try backend numpy-ref to compare",
        ) from err


__all__ = [
    "OPTIMIZATION_LEVELS",
    "OrtSession",
    "SessionSettings",
    "cache_size",
    "cached_session",
    "clear_session_cache",
    "profiled_session",
]
