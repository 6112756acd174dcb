"""The line diff of two IR texts, as typed lines a view can render (``difflib``).

``ir_diff(before, after, context=3)`` gives the changed hunks of a unified
diff: each hunk starts with a ``hunk`` line (``@@ -a,b +c,d @@``), then
``context``, ``removed`` and ``added`` lines with their line numbers in the
old and the new text (1-based; ``None`` where the line is not in that side).
Equal texts give no lines. Because the IR text is deterministic (one node a
line, sorted attributes), the diff shows exactly the nodes a pass changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["hunk", "context", "removed", "added"]


@dataclass(frozen=True)
class DiffLine:
    """One line of the diff: its kind, old and new line numbers, and its text."""

    kind: Kind
    old: int | None
    new: int | None
    text: str


def ir_diff(before: str, after: str, context: int = 3) -> list[DiffLine]:
    """The hunks that turn ``before`` into ``after`` (see the module docstring)."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    lines: list[DiffLine] = []
    for group in matcher.get_grouped_opcodes(context):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        lines.append(DiffLine("hunk", None, None, f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [
                    DiffLine("context", a1 + k + 1, b1 + k + 1, old[a1 + k]) for k in range(a2 - a1)
                ]
                continue
            lines += [DiffLine("removed", a + 1, None, old[a]) for a in range(a1, a2)]
            lines += [DiffLine("added", None, b + 1, new[b]) for b in range(b1, b2)]
    return lines


def count_changes(lines: list[DiffLine]) -> tuple[int, int]:
    """(lines removed, lines added)."""
    removed = sum(1 for line in lines if line.kind == "removed")
    return removed, sum(1 for line in lines if line.kind == "added")


__all__ = ["DiffLine", "count_changes", "ir_diff"]
