"""``nanograph inspect --memory``: the memory report in the terminal, --json and --html.

Most tests run the ``heads`` model (``tests/cli/inspect_fixtures.py``) through
the test-only O2 pipeline ``dce, fuse_linear, dce`` at N=2, with the plan's
kernel choices pinned (``PINNED``: add and mul in place, a 100-byte
workspace for linear), so every expected number below is worked out by hand
from the graph, not read from the planner. The printed offsets are checked
by a brute-force overlap check on the printed rows themselves; the --json
plan by the independent checker of ``tests/passes/memory``. One test runs a
zoo model with the real executor kernels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nanograph.api import optimize
from nanograph.inspection import memory
from nanograph.inspection.memory import PlanOptions
from nanograph.ir.graph import Node
from nanograph.ir.specialize import specialize
from nanograph.model_loading import load_model
from nanograph.passes.memory.placement import MemoryPlan, TensorPlacement
from tests.cli.cli_run import run_cli
from tests.cli.inspect_fixtures import parse_page, use_test_pipeline, write_model
from tests.passes.memory.plan_checker import plan_violations

Capsys = pytest.CaptureFixture[str]


def _inplace(node: Node) -> bool:
    return node.op in ("add", "mul")


def _workspace(node: Node) -> int:
    return 100 if node.op == "linear" else 0


PINNED = PlanOptions(_workspace, _inplace, "add and mul in place, 100 B for linear")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes its tables to ``COLUMNS``: wide enough that no cell wraps."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def heads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The heads model, O2 running the test pipeline, the plan's kernel choices pinned."""
    use_test_pipeline(monkeypatch)
    monkeypatch.setattr(memory, "executor_plan_options", lambda: PINNED)
    return write_model(tmp_path)


def table_rows(out: str, title: str) -> list[list[str]]:
    """The body rows of the rich table printed under ``title``, as lists of cell texts."""
    lines = out[out.index(title) :].splitlines()[1:]
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in lines[:end]
        if line.startswith("│")
    ]


# Hand-derived from the graph after fuse_linear (12 nodes; f32[2,4] is 32 bytes, f32[8,4]
# 128, f32[2,8] 64; steps count nodes from 0; "out" is after step 11).
# (tensor, op, lifetime, size, in place of)
HEADS_TENSORS = [
    ("x", "input", "in -> 10", 64, None),
    ("b", "input", "in -> 4", 32, None),
    ("fc.transpose", "transpose", "0 -> 1", 128, None),
    ("fc", "linear", "1 -> out", 32, None),
    ("proj.transpose", "transpose", "2 -> 3", 128, None),
    ("proj", "matmul", "3 -> 4", 32, None),
    ("add", "add", "4 -> out", 32, "proj"),  # proj + b: proj dies here, b is read only here too
    ("shared.transpose", "transpose", "5 -> 6", 128, None),
    ("shared", "matmul", "6 -> 8", 32, None),
    ("add_1", "add", "7 -> 8", 32, None),  # shared + 1: shared is read again by mul
    ("mul", "mul", "8 -> out", 32, "add_1"),
    ("shift.transpose", "transpose", "9 -> 10", 128, None),
    ("shift", "matmul", "10 -> 11", 32, None),
    ("add_2", "add", "11 -> out", 32, "shift"),
]
# Buffers rounded to 64 bytes. Most live at once: step 10 (x, fc, add, mul, shift.transpose,
# shift: 64 * 4 + 128 + 64 = 448); step 1 with linear's workspace: x, b, fc.transpose, fc,
# workspace = 4 * 64 + 128 + 64 = 448. Naive: x, b, 8 tensors of 32 bytes, 4 transposes.
LOWER_BOUND = 448
NAIVE = 64 + 64 + 8 * 64 + 4 * 128 + 128  # + the workspace


def _span(lifetime: str) -> tuple[int, int]:
    first, last = lifetime.split(" -> ")
    return (-1 if first == "in" else int(first), 12 if last == "out" else int(last))


def _nbytes(cell: str) -> int:
    return int(cell.removesuffix(" B").replace(",", ""))


def test_every_tensor_with_lifetime_size_offset_and_where_its_bytes_come_from(
    capsys: Capsys, heads: Path
) -> None:
    code, out, err = run_cli(capsys, "inspect", str(heads), "--memory")
    assert code == 0, err
    rows = table_rows(out, "tensors (steps: the node order")
    assert [(r[0], r[1], r[3], _nbytes(r[4])) for r in rows] == [t[:4] for t in HEADS_TENSORS]
    for row, (_, _, _, _, source) in zip(rows, HEADS_TENSORS, strict=True):
        if source is not None:
            assert row[6] == f"in place of %{source}"
            assert row[5] == next(r[5] for r in rows if r[0] == source)
        else:
            assert row[6] == "fresh" or row[6].startswith("reuses %"), row
    by_name = {r[0]: r for r in rows}
    spans = {r[0]: _span(r[3]) for r in rows}
    for row in rows:
        if row[6].startswith("reuses %"):  # the bytes of a tensor whose life ended before
            assert spans[row[6].removeprefix("reuses %")][1] < spans[row[0]][0], row
    # The printed offsets: no two tensors live at one step share a byte, except in place.
    held = {r[0]: (int(r[5].replace(",", "")), _nbytes(r[4])) for r in rows}
    for step in range(-1, 13):
        live = [n for n, (a, b) in spans.items() if a <= step <= b]
        for i, m in enumerate(live):
            for n in live[i + 1 :]:
                (om, sm), (on, sn) = held[m], held[n]
                handoff = by_name[n][6] == f"in place of %{m}" and spans[n][0] == step
                assert handoff or om + sm <= on or on + sn <= om, (step, m, n)


def test_headline_puts_the_peak_next_to_the_lower_bound_and_the_naive_sum(
    capsys: Capsys, heads: Path
) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--memory")
    assert code == 0
    assert "memory plan at N=2 (add and mul in place, 100 B for linear; " in out
    found = re.search(
        r"arena ([\d,]+) B = ([\d.]+)x the lower bound ([\d,]+) B; naive sum ([\d,]+) B", out
    )
    assert found, out
    arena, ratio, lower, naive = found.groups()
    assert (int(lower.replace(",", "")), int(naive.replace(",", ""))) == (LOWER_BOUND, NAIVE)
    assert LOWER_BOUND <= int(arena.replace(",", "")) <= 1.1 * LOWER_BOUND
    assert float(ratio) == pytest.approx(int(arena.replace(",", "")) / LOWER_BOUND, abs=1e-3)
    (workspace,) = table_rows(out, "kernel workspaces")
    assert workspace[:4] == ["1", "fc", "linear", "100 B"]


def test_peak_after_each_pass(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--memory")
    assert code == 0
    rows = table_rows(out, "peak memory after each pass")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0", "input", "13"),
        ("1", "dce", "13"),
        ("2", "fuse_linear", "12"),
        ("3", "dce", "12"),
    ]
    # Before fuse_linear, fc = add(matmul, @bias) holds one more 32-byte tensor (and no
    # workspace: no linear yet); the add runs in place over the matmul, so the bound stays.
    assert [_nbytes(r[5]) for r in rows] == [NAIVE - 128 + 64] * 2 + [NAIVE] * 2
    assert [_nbytes(r[4]) for r in rows] == [LOWER_BOUND] * 4
    assert [r[6] for r in rows] == ["", "=", "=", "="]


def _plan_from_json(data: dict[str, object]) -> MemoryPlan:
    tensors = {
        t["name"]: TensorPlacement(
            t["name"],
            t["nbytes"],
            t["offset"],
            t["first"],
            t["last"],
            view_of=t["view_of"],
            inplace_of=t["inplace_of"],
            reuses=t["reuses"],
        )
        for t in data["tensors"]  # type: ignore[attr-defined]
    }
    return MemoryPlan(
        tensors,
        {w["step"]: (w["offset"], w["nbytes"]) for w in data["workspaces"]},  # type: ignore[attr-defined]
        data["arena_bytes"],  # type: ignore[arg-type]
        data["lower_bound"],  # type: ignore[arg-type]
        data["naive_bytes"],  # type: ignore[arg-type]
        data["alignment"],  # type: ignore[arg-type]
    )


def test_json_holds_a_plan_the_independent_checker_accepts(
    capsys: Capsys, heads: Path, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    code, _, err = run_cli(capsys, "inspect", str(heads), "--memory", "--json", str(path))
    assert code == 0, err
    data = json.loads(path.read_text())["memory"]
    assert data["dims"] == {"N": 2} and data["options"] == PINNED.source
    assert [t["name"] for t in data["tensors"]] == [t[0] for t in HEADS_TENSORS]
    assert [p["pass"] for p in data["passes"]] == ["input", "dce", "fuse_linear", "dce"]
    graph = specialize(optimize(load_model(str(heads)).trace(), "O2")[0], {"N": 2})
    problems = plan_violations(
        graph, _plan_from_json(data), workspace=_workspace, inplace_ok=_inplace
    )
    assert not problems, "\n".join(problems)


def test_html_has_a_memory_section(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    page, report = tmp_path / "r.html", tmp_path / "r.json"
    argv = ["inspect", str(heads), "--memory", "--html", str(page), "--json", str(report)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    parsed = parse_page(page.read_text())
    data = json.loads(report.read_text())["memory"]
    _, text = parsed.by_id("memory")
    assert "lower bound 448 B" in text
    rows = parsed.by_class("tensor")
    assert [a["data-tensor"] for a, _ in rows] == [t["name"] for t in data["tensors"]]
    assert [int(a["data-offset"] or "") for a, _ in rows] == [t["offset"] for t in data["tensors"]]
    passes = parsed.by_class("memory-pass")
    assert [a["data-pass"] for a, _ in passes] == ["input", "dce", "fuse_linear", "dce"]
    assert [a["data-step"] for a, _ in parsed.by_class("workspace")] == ["1"]
    assert "in place of %proj" in text


def test_without_memory_nothing_changes(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    page, report = tmp_path / "r.html", tmp_path / "r.json"
    code, out, _ = run_cli(
        capsys, "inspect", str(heads), "--html", str(page), "--json", str(report)
    )
    assert code == 0
    assert "memory plan" not in out
    assert "memory" not in json.loads(report.read_text())
    assert 'id="memory"' not in page.read_text()


def test_a_zoo_model_with_the_executor_kernels_at_given_dims(capsys: Capsys) -> None:
    code, out, err = run_cli(capsys, "inspect", "lenet", "--memory", "--dims", "N=3")
    assert code == 0, err
    assert "memory plan at N=3 (workspaces and in place as the executor's kernels" in out
    rows = table_rows(out, "tensors (steps: the node order")
    assert rows[0][:5] == ["x", "input", "f32[3,1,28,28]", "in -> 0", f"{3 * 28 * 28 * 4:,} B"]
    found = re.search(r"arena ([\d,]+) B = [\d.]+x the lower bound ([\d,]+) B", out)
    assert found
    arena, lower = (int(g.replace(",", "")) for g in found.groups())
    assert lower <= arena <= 1.1 * lower
    peaks = table_rows(out, "peak memory after each pass")
    assert _nbytes(peaks[-1][3]) == arena  # the last pass's graph is the one planned
