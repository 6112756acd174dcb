"""``--plot FILE.png``: median latency per target and batch size, one panel per model.

Latency (log scale, milliseconds) against batch size (log scale), one line
per target; solid for the first thread count, dashed, dotted, ... for the
others; whiskers from the 10th to the 90th percentile. Only timed cells are drawn. matplotlib is
an optional extra (``pip install 'nanograph[plot]'``): without it,
``write_plot`` raises ``ConfigError`` saying so. The PNG is written atomically.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

from nanograph.backends.atomic_write import atomic_write_bytes
from nanograph.bench.results import BenchResult, Cell
from nanograph.ir.errors import ConfigError

LINE_STYLES = ("-", "--", ":", "-.")


def write_plot(result: BenchResult, path: str | os.PathLike[str]) -> None:
    """Draw ``result`` (see the module docstring) and write it to ``path`` as a PNG."""
    plt = _pyplot()
    models = [m["name"] for m in result.models]
    columns = min(3, max(1, len(models)))
    rows = math.ceil(len(models) / columns) if models else 1
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(models):
            _draw_model(ax, result, models[index])
        else:
            ax.set_visible(False)
    figure.suptitle("nanograph bench: median latency (whiskers: 10th to 90th percentile)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--plot needs matplotlib, which is not installed",
            hint="pip install 'nanograph[plot]' (or drop --plot)",
        ) from None
    return plt


def _draw_model(ax: Any, result: BenchResult, model: str) -> None:
    timed = [c for c in result.cells if c.model == model and c.timed]
    threads = sorted({c.threads for c in timed})
    targets = [t["name"] for t in result.targets if any(c.target == t["name"] for c in timed)]
    colors = {name: f"C{i % 10}" for i, name in enumerate(targets)}
    for target in targets:
        for t_index, count in enumerate(threads):
            series = sorted(
                (c for c in timed if c.target == target and c.threads == count),
                key=lambda c: c.batch,
            )
            if series:
                _draw_series(ax, series, colors[target], LINE_STYLES[t_index % len(LINE_STYLES)])
                ax.plot([], [], color=colors[target], linestyle=LINE_STYLES[t_index % 4],
                        label=f"{target}, {count} thr")  # fmt: skip
    batches = sorted({c.batch for c in timed})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_locator(_null_locator())
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel("latency (ms)")
    ax.set_title(model)
    ax.grid(True, which="both", alpha=0.3)
    if targets:
        ax.legend(fontsize="x-small")


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _draw_series(ax: Any, series: list[Cell], color: str, style: str) -> None:
    xs, medians, low, high = [], [], [], []
    for cell in series:
        stats = cell.stats
        assert stats is not None  # only timed cells are drawn
        xs.append(cell.batch)
        medians.append(stats.median_ns / 1e6)
        low.append((stats.median_ns - stats.p10_ns) / 1e6)
        high.append((stats.p90_ns - stats.median_ns) / 1e6)
    ax.errorbar(xs, medians, yerr=[low, high], color=color, linestyle=style, marker="o",
                markersize=3, capsize=2, linewidth=1.2)  # fmt: skip
