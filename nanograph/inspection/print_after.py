"""``--print-after PASS`` / ``--print-after-all``: the text IR after chosen passes.

``check_pass_names(level, names)`` refuses, before any work is done, a name
that is not a pass of ``level`` (``ConfigError`` listing the level's passes,
with the closest name). ``ir_dumps(inspection, names)`` gives one block per
run of a chosen pass, in pipeline order (a pass that runs twice, like a
clean-up after the fusions, is printed after each run), each headed by a
comment line that says which pass and how the node count changed.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

from nanograph.api import level_passes
from nanograph.inspection.collect import Inspection
from nanograph.ir.errors import ConfigError

ALL = "all"
"""The name that stands for every pass (``--print-after-all``)."""


def check_pass_names(level: str, names: Sequence[str], backend: str | None = None) -> None:
    """``ConfigError`` for any of ``names`` that ``level`` does not run for ``backend``
    (unknown levels and backends too)."""
    passes = level_passes(level, backend)
    for name in names:
        if name in passes:
            continue
        if not passes:
            raise ConfigError(
                f"--print-after {name}: level {level} runs no passes",
                hint="choose a level that runs passes, e.g. --level O2",
            )
        close = difflib.get_close_matches(name, passes, n=1)
        guess = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"--print-after {name}: level {level} runs no pass named {name!r}{guess}",
            hint=f"the passes of {level}, in order: {', '.join(dict.fromkeys(passes))}",
        )


def ir_dumps(inspection: Inspection, names: Collection[str]) -> list[str]:
    """The IR after each run of a pass in ``names`` (or every pass, if ``ALL`` is in it)."""
    dumps = []
    total = len(inspection.records)
    for index, record in enumerate(inspection.records):
        if ALL not in names and record.name not in names:
            continue
        header = (
            f"// IR after pass {index + 1}/{total} {record.name} "
            f"({record.nodes_before} -> {record.nodes_after} nodes)"
        )
        text = inspection.ir_after(index)
        dumps.append(f"{header}\n{text}" + ("" if text.endswith("\n") else "\n"))
    return dumps


__all__ = ["ALL", "check_pass_names", "ir_dumps"]
