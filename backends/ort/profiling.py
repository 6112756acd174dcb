"""Which execution provider ran each node, read from onnxruntime's profiling trace.

onnxruntime's profiler (``SessionOptions.enable_profiling``) writes a JSON
trace of events; each node run is an event with ``cat == "Node"``, named
``<node>_kernel_time``, whose ``args`` carry ``provider`` and ``op_name``.
The nodes are those onnxruntime ran *after its own graph optimizations*: at
optimization level ``all`` a Conv + Relu may run as one ``FusedConv`` (or a
``Conv`` renamed ``<name>_nchwc`` plus ``ReorderOutput``), and onnxruntime
names unnamed nodes ``<OpType>_<index>``. The report says what really ran.

``ProfileCapture`` owns the temporary folder a session's trace goes to:
onnxruntime creates the file when the session is built and writes it when
profiling ends (``end_profiling``) or the session is destroyed. ``harvest``
ends profiling, reads the trace and removes the folder; if that never
happens, a finalizer ends profiling and removes the folder when the capture
is collected (or at exit), so no profile files are left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_KERNEL = "_kernel_time"


@dataclass(frozen=True)
class ProviderReport:
    """Where onnxruntime ran each node of one profiled run.

    ``session_providers``: the providers the session was built with, best
    first. ``nodes``: node name (as onnxruntime ran it) -> provider, in
    execution order. ``op_types``: node name -> op type as run (``FusedConv``,
    ``MemcpyToHost``, ...).
    """

    session_providers: tuple[str, ...]
    nodes: Mapping[str, str]
    op_types: Mapping[str, str]

    @property
    def counts(self) -> dict[str, int]:
        """Nodes run per provider, the busiest first."""
        return dict(Counter(self.nodes.values()).most_common())

    def nodes_on(self, provider: str) -> list[str]:
        """Names of the nodes ``provider`` ran."""
        return [name for name, p in self.nodes.items() if p == provider]

    def summary(self) -> str:
        """One line: who ran how many nodes; the op types of nodes off the preferred provider.

        E.g. ``CUDAExecutionProvider ran 10 of 12 nodes of onnxruntime's graph;
        CPUExecutionProvider ran 2 (Gather x1, Shape x1)``. "onnxruntime's
        graph" is the model after onnxruntime's own optimizations.
        """
        total = len(self.nodes)
        if not total:
            return "onnxruntime's profile named no nodes (an empty graph?)"
        where = "of onnxruntime's graph"
        preferred = self.session_providers[0] if self.session_providers else ""
        parts = []
        for provider, count in self.counts.items():
            if count == total:
                every = "the only node" if total == 1 else f"all {total} nodes"
                parts.append(f"{provider} ran {every} {where}")
                continue
            text = f"{provider} ran {count}" + (f" of {total} nodes {where}" if not parts else "")
            if provider != preferred:
                ops = Counter(self.op_types[n] for n in self.nodes_on(provider))
                text += " (" + ", ".join(f"{op} x{k}" for op, k in sorted(ops.items())) + ")"
            parts.append(text)
        return "; ".join(parts)

    def __str__(self) -> str:
        lines = [f"providers: {self.summary()}"]
        lines += [f"  {name} ({self.op_types[name]}): {p}" for name, p in self.nodes.items()]
        return "\n".join(lines)


def report_from_events(events: Iterable[Any], session_providers: tuple[str, ...]) -> ProviderReport:
    """The report for a list of profiling events (onnxruntime's JSON trace, loaded).

    Events that are not node kernels (session events, fences) are skipped; a
    node run several times (inside a loop) is reported once.
    """
    nodes: dict[str, str] = {}
    op_types: dict[str, str] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("cat") != "Node":
            continue
        name, args = str(event.get("name", "")), event.get("args") or {}
        if not name.endswith(_KERNEL) or "provider" not in args:
            continue
        node = name[: -len(_KERNEL)]
        nodes.setdefault(node, str(args["provider"]))
        op_types.setdefault(node, str(args.get("op_name", "?")))
    return ProviderReport(tuple(session_providers), nodes, op_types)


class ProfileCapture:
    """A temporary folder for one session's profiling trace, removed once read or unused.

    Use: ``capture = ProfileCapture()``; build the session with
    ``profile_file_prefix = capture.prefix``; ``capture.watch(session)``; after
    a run, ``capture.harvest(session, providers)``.
    """

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="nanograph-ort-profile-")
        self.prefix = os.path.join(self.folder, "profile")
        self._finalizer = weakref.finalize(self, _discard, None, self.folder)

    def watch(self, session: Any) -> None:
        """From now on, cleaning up also ends ``session``'s profiling (no file is written later)."""
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _discard, session, self.folder)

    def discard(self) -> None:
        """End profiling (if watching a session) and remove the folder now."""
        self._finalizer()

    def harvest(self, session: Any, session_providers: tuple[str, ...]) -> ProviderReport:
        """End ``session``'s profiling, read its trace into a report, remove the folder."""
        try:
            path = session.end_profiling()
            with open(path, encoding="utf-8") as f:
                events = json.load(f)
        except (OSError, ValueError):  # no trace to read: report no nodes rather than fail a run
            events = []
        finally:
            self.discard()
        return report_from_events(events if isinstance(events, list) else [], session_providers)


def _discard(session: Any, folder: str) -> None:
    if session is not None:
        with contextlib.suppress(Exception):  # at exit onnxruntime may already be gone
            session.end_profiling()  # a second call is a no-op that returns ""
    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["ProfileCapture", "ProviderReport", "report_from_events"]
