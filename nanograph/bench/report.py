"""Showing a benchmark: a live progress bar, a table per model, and the JSON file.

The table has one row per (target, batch, threads) that was timed or
failed, grouped by thread count and batch so a target sits next to the
baseline it is compared with, and one row per target that could not run
(``not installed``, ``not available``, ``not applicable``). Columns: median,
min and max latency, throughput, achieved GFLOP/s, % of the GEMM peak at the
same thread count, and the time relative to the baseline in the same run. A
median marked ``!`` was measured while other processes kept at least
``BUSY_CORES`` cores busy (``environment.OtherLoad``): a shared machine's
timings, multi-threaded ones most of all, are only as good as that.
Reasons (a failed agreement check, an error, why a target cannot run)
follow the table as notes. ``write_json`` writes the result atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgressBar
from rich.table import Table
from rich.text import Text

from nanograph.backends.atomic_write import atomic_write_bytes
from nanograph.bench.results import ERROR, FAILED, OK, BenchResult, Cell
from nanograph.model_cost import human

BUSY_CORES = 0.25  # other processes' load (cores) from which a row is marked "!"
TABLE_WIDTH = 150  # when not printing to a terminal (a file, a pipe, a test)
COLUMNS = ("target", "batch", "threads", "median", "min", "max", "items/s", "GFLOP/s", "% peak")


class RichProgress:
    """The runner's ``Progress`` as a rich progress bar (transient: gone once the run ends)."""

    def __init__(self, console: Console) -> None:
        self._bar = RichProgressBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            refresh_per_second=2,  # the parent's redraws must not compete with a timed worker
        )
        self._task = self._bar.add_task("benchmark", total=None)

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def begin(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def step(self, label: str, advance: int = 1) -> None:
        self._bar.update(self._task, description=label, advance=advance)


def render(result: BenchResult, console: Console) -> None:
    """Print a table per model, its notes, and the method (see the module docstring).

    Printing to a file or pipe, ``console`` is widened to ``TABLE_WIDTH`` so
    the tables are not squeezed to the 80 columns rich assumes there.
    """
    if not console.is_terminal and console.width < TABLE_WIDTH:
        console.width = TABLE_WIDTH
    for model in result.models:
        table, notes = model_table(result, model["name"])
        console.print(table)
        for note in notes:
            console.print(Text(f"  {note}"))
    for key, text in result.method.items():
        console.print(Text(f"{key}: {text}", style="dim"))


def model_table(result: BenchResult, model: str) -> tuple[Table, list[str]]:
    """The table of one model and the notes that go under it."""
    order = {t["name"]: i for i, t in enumerate(result.targets)}
    cells = [c for c in result.cells if c.model == model]
    shown = [c for c in cells if c.status in (OK, FAILED, ERROR)]
    shown.sort(key=lambda c: (c.threads, c.batch, order.get(c.target, 99)))
    table = Table(title=_title(result, model))
    for column in (*COLUMNS, f"time / {result.baseline}"):
        table.add_column(column, justify="left" if column == "target" else "right", no_wrap=True)
    notes: list[str] = []
    for i, cell in enumerate(shown):
        group = (cell.threads, cell.batch)
        last = i + 1 == len(shown) or (shown[i + 1].threads, shown[i + 1].batch) != group
        table.add_row(*_row(result, cell), end_section=last)
        if cell.status != OK:
            notes.append(
                f"{cell.target} batch {cell.batch}, {cell.threads} thread(s): {cell.reason}"
            )
    busy = [b for b in map(_busy, shown) if b is not None]
    if busy:
        notes.append(
            f"! {len(busy)} of {len(shown)} rows were measured while other processes kept "
            f"{min(busy):.2f}-{max(busy):.2f} cores busy: their timings are unreliable"
        )
    for target, status, reason in _unavailable(cells, order):
        table.add_row(Text(target), "-", "-", Text(status, style="yellow"), *[""] * 6)
        notes.append(f"{target}: {status}: {reason}")
    return table, notes


def _busy(cell: Cell) -> float | None:
    """Cores other processes kept busy while ``cell``'s worker ran, if enough to matter."""
    cores = (cell.worker or {}).get("other_cores")
    return cores if cores is not None and cores >= BUSY_CORES else None


def _title(result: BenchResult, model: str) -> str:
    info = next(m for m in result.models if m["name"] == model)
    per_item = [f / int(b) for b, f in info["flops"].items()]
    flops = f"{human(min(per_item))}FLOP per item" if per_item else ""
    dims = ", ".join(f"{k}={v}" for k, v in info["dims"].items())
    peaks = ", ".join(
        f"{t} thread(s) {p.gflops:.0f}" if p.gflops else f"{t} thread(s) ?"
        for t, p in sorted(result.peaks.items())
    )
    parts = [model, flops, dims, f"GEMM peak GFLOP/s: {peaks}" if peaks else ""]
    return " · ".join(p for p in parts if p)


def _row(result: BenchResult, cell: Cell) -> list[Any]:
    head: list[Any] = [Text(cell.target), str(cell.batch), str(cell.threads)]
    stats = cell.stats
    if stats is None:
        label = "FAILED" if cell.status == FAILED else cell.status
        diff = "" if cell.max_abs_diff is None else f"max abs diff {cell.max_abs_diff:.3g}"
        return [*head, Text(label, style="bold red"), Text(diff), *[""] * 5]
    fraction = result.peak_fraction(cell)
    ratio = result.ratio_to_baseline(cell)
    return [
        *head,
        format_seconds(stats.median_ns / 1e9) + (" !" if _busy(cell) else ""),
        format_seconds(stats.min_ns / 1e9),
        format_seconds(stats.max_ns / 1e9),
        f"{cell.items_per_s:,.0f}" if cell.items_per_s else "-",
        f"{cell.gflops:.2f}" if cell.gflops is not None else "-",
        f"{fraction:.1%}" if fraction is not None else "-",
        f"{ratio:.2f}x" if ratio is not None else "-",
    ]


def _unavailable(cells: Sequence[Cell], order: dict[str, int]) -> list[tuple[str, str, str]]:
    """One (target, status, reason) per target that could not run at all."""
    by_target: dict[str, Cell] = {}
    for cell in cells:
        if cell.status not in (OK, FAILED, ERROR):
            by_target.setdefault(cell.target, cell)
    ran = {c.target for c in cells if c.status in (OK, FAILED, ERROR)}
    found = [(t, c.status, c.reason) for t, c in by_target.items() if t not in ran]
    return sorted(found, key=lambda item: order.get(item[0], 99))


def format_seconds(seconds: float) -> str:
    """``0.000123`` -> ``123 µs``; ``0.0123`` -> ``12.3 ms``; three significant digits."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def write_json(document: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``document`` (``BenchResult.to_json()``) to ``path`` atomically, indented."""
    text = json.dumps(document, indent=1, allow_nan=False, default=_plain)
    atomic_write_bytes(path, (text + "\n").encode())


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
