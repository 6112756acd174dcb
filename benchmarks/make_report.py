"""Regenerate BENCHMARKS.md: run the full benchmark, then write the report from its JSON.

    python benchmarks/make_report.py                  # run everything (~16 min on 2 cores), write
    python benchmarks/make_report.py --from-json F    # only rewrite BENCHMARKS.md from F

The run is ``nanograph bench <every zoo model> --batch 1,8 --threads 1,2
--budget 1.0 --compile --json benchmarks/results.json --plot
benchmarks/latency.png`` (``--budget``, ``--batch``, ``--threads`` and
``--models`` override), then three comparisons, each in its own process
(``--no-extras`` skips them), each writing ``benchmarks/<script>.json``:

- ``numpy_levels.py --threads 1``: the NumPy backend at O0, O1 and O2, interleaved;
- ``ort_vs_torch_export.py``: onnxruntime on our export against onnxruntime on
  PyTorch's export, batch 1 and 32, every attention lowering;
- ``attention_kernel.py --threads 1``: the fused attention kernel against the
  unfused ops.

BENCHMARKS.md is then written from the JSON files: machine, versions, method,
the three comparisons (from whichever of their files exist; without
``numpy_levels.json``, O0 against each level from the bench's own columns), and
per model the latency, throughput, % of GEMM peak, time relative to onnxruntime
and PyTorch, worker memory, then compile time. The hand-written findings between
the ``findings`` markers of an existing BENCHMARKS.md are kept. Run it on an idle
machine: rows measured while other processes kept cores busy are listed (the
``!`` of the terminal table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from nanograph.backends.atomic_write import atomic_write_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_extras import (
    export_section,
    kernel_section,
    numpy_interleaved_section,
    numpy_levels_section,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
EXPORT_JSON = ROOT / "benchmarks" / "ort_vs_torch_export.json"
KERNEL_JSON = ROOT / "benchmarks" / "attention_kernel.json"
LEVELS_JSON = ROOT / "benchmarks" / "numpy_levels.json"
EXTRAS = (
    ("numpy_levels.py", LEVELS_JSON, ["--threads", "1"]),
    (
        "ort_vs_torch_export.py",
        EXPORT_JSON,
        ["--variants", "auto@23,ms@23,plain@23,ms@17,plain@17"],
    ),
    ("attention_kernel.py", KERNEL_JSON, ["--threads", "1"]),
)
PLOT = ROOT / "benchmarks" / "latency.png"
REPORT = ROOT / "BENCHMARKS.md"
FINDINGS = re.compile(r"<!-- findings:begin -->\n(.*?)<!-- findings:end -->", re.S)
PLACEHOLDER = "_To be written after reading the tables: the figures that surprised us._\n"
BUSY_CORES = 0.25


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.chdir(ROOT)  # the command's paths are relative to the repository root
    source = Path(args.from_json) if args.from_json else RESULTS
    command = _bench_command(args)
    if not args.from_json:
        from nanograph.cli import main as nanograph

        status = nanograph(command[1:])
        if not source.exists():
            return status or 1
        if not args.no_extras:
            _run_extras()
    document = json.loads(source.read_text())
    old = REPORT.read_text() if REPORT.exists() else ""
    extras = {
        "levels": _read(LEVELS_JSON),
        "export": _read(EXPORT_JSON),
        "kernel": _read(KERNEL_JSON),
    }
    report = render_report(document, " ".join(command), _findings(old), **extras)
    atomic_write_bytes(REPORT, report.encode())
    print(f"wrote {REPORT.relative_to(ROOT)} from {source}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", metavar="F", help="skip the run; write from this JSON")
    parser.add_argument("--models", help="comma-separated (default: the whole zoo)")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--budget", default="1.0")
    parser.add_argument(
        "--no-extras", action="store_true", help="do not run the export and kernel comparisons"
    )
    return parser


def _run_extras() -> None:
    """Each extra comparison in its own process (their exit status only says a goal was missed)."""
    for script, output, options in EXTRAS:
        path = ROOT / "benchmarks" / script
        argv = [sys.executable, str(path), *options, "--json", str(output.relative_to(ROOT))]
        print("running", " ".join(argv[1:]), flush=True)
        subprocess.run(argv, cwd=ROOT, check=False)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _bench_command(args: argparse.Namespace) -> list[str]:
    from nanograph.zoo import MODELS

    models = args.models.split(",") if args.models else list(MODELS)
    options = ["--batch", args.batch, "--threads", args.threads, "--budget", args.budget]
    files = ["--json", str(RESULTS.relative_to(ROOT)), "--plot", str(PLOT.relative_to(ROOT))]
    return ["nanograph", "bench", *models, *options, "--compile", *files]


def _findings(old: str) -> str:
    match = FINDINGS.search(old)
    return match.group(1) if match else PLACEHOLDER


# the report ---------------------------------------------------------------------------
def render_report(
    doc: dict[str, Any],
    command: str,
    findings: str,
    export: dict[str, Any] | None = None,
    kernel: dict[str, Any] | None = None,
    levels: dict[str, Any] | None = None,
) -> str:
    """BENCHMARKS.md from a ``nanograph bench`` JSON document (schema version 1), with the
    sections of ``numpy_levels.py``'s (``levels``; else the bench's own numpy columns),
    ``ort_vs_torch_export.py``'s (``export``) and ``attention_kernel.py``'s (``kernel``)
    JSON documents where given."""
    lines = [
        "# Benchmarks",
        "",
        f"Regenerate (from the repository root, on an idle machine): `python benchmarks/"
        f"make_report.py`, which runs `{command}`, then `numpy_levels.py`, "
        "`ort_vs_torch_export.py` and `attention_kernel.py` (see `benchmarks/README.md`), and "
        f"writes this file from their JSON files. Generated {doc.get('created', '?')}.",
        "",
        "## Findings",
        "",
        "<!-- findings:begin -->",
        findings.rstrip("\n"),
        "<!-- findings:end -->",
        "",
        *_machine(doc),
        *_method(doc),
        *(numpy_interleaved_section(levels) or numpy_levels_section(doc)),
        *export_section(export),
        *kernel_section(kernel),
    ]
    for model in doc.get("models", []):
        lines += _model_section(doc, model)
    lines += _not_run(doc) + _busy(doc) + _compile(doc.get("compile"))
    return "\n".join(lines).rstrip("\n") + "\n"


def _machine(doc: dict[str, Any]) -> list[str]:
    env = doc["environment"]
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    blas = env.get("blas", {})
    peaks = ", ".join(f"{p['threads']} thread(s): {p['gflops']:.0f} GFLOP/s (n={p['size']})"
                      for p in doc["gemm_peak"] if p["gflops"])  # fmt: skip
    memory = env.get("memory_bytes") or 0
    return [
        "## Machine and software",
        "",
        f"- CPU: {env['cpu']}, {env['logical_cores']} logical cores "
        f"({env.get('usable_cores')} usable), {memory / 2**30:.0f} GiB; {env.get('platform')}",
        f"- Python {env['python']}; {packages}",
        f"- NumPy's BLAS: {blas.get('name', '?')} {blas.get('version', '')}",
        f"- float32 GEMM peak (NumPy's BLAS, measured in this run): {peaks}",
        f"- load average (1, 5, 15 min) before / after the run: "
        f"{_loads(env.get('load_average_before'))} / {_loads(env.get('load_average_after'))}",
        "",
    ]


def _loads(values: list[float] | None) -> str:
    return "?" if not values else ", ".join(f"{v:.2f}" for v in values)


def _method(doc: dict[str, Any]) -> list[str]:
    lines = ["## Method", ""]
    lines += [f"- {key}: {text}" for key, text in doc.get("method", {}).items()]
    config = doc["config"]
    lines += [
        f"- level of our exports: {config['level']}; baseline of the ratios: {doc['baseline']}; "
        f"inputs seeded with {config['seed']}; latency plot: `benchmarks/latency.png`",
        "",
    ]
    return lines


def _cells(doc: dict[str, Any], model: str) -> dict[tuple[int, int, str], dict[str, Any]]:
    return {
        (r["threads"], r["batch"], r["target"]): r for r in doc["results"] if r["model"] == model
    }


def _model_section(doc: dict[str, Any], model: dict[str, Any]) -> list[str]:
    cells = _cells(doc, model["name"])
    targets = [t["name"] for t in doc["targets"]
               if any(k[2] == t["name"] and c["status"] in ("ok", "failed", "error")
                      for k, c in cells.items())]  # fmt: skip
    groups = sorted({(k[0], k[1]) for k in cells})
    dims = ", ".join(f"{k}={v}" for k, v in model["dims"].items())
    per_item = min(int(f) / int(b) for b, f in model["flops"].items()) / 1e6
    lines = [
        f"## {model['name']}",
        "",
        f"{per_item:.3g} MFLOP per item{'; ' + dims if dims else ''}.",
    ]
    metrics = [
        ("Latency, median ms (min-max)", _latency),
        ("Throughput, items/s", _throughput),
        ("Achieved GFLOP/s (% of the GEMM peak at the same thread count)", _gflops),
        (f"Time relative to {doc['baseline']}", _vs_baseline),
        ("Time relative to torch (PyTorch eager)", _vs_torch),
    ]
    for title, cell_text in metrics:
        lines += ["", f"{title}:", "", _header(["threads", "batch", *targets])]
        for threads, batch in groups:
            row = [cell_text(cells.get((threads, batch, t)), cells) for t in targets]
            lines.append(_md_row([str(threads), str(batch), *row]))
    lines += ["", "Worker peak RSS, MiB (the largest batch dominates):", ""]
    lines += [_header(["threads", *targets])]
    for threads in sorted({g[0] for g in groups}):
        rss = [_rss(cells, threads, t) for t in targets]
        lines.append(_md_row([str(threads), *rss]))
    return [*lines, ""]


def _latency(r: dict[str, Any] | None, _: Any) -> str:
    if r is None or r["status"] != "ok":
        return _status(r)
    s = r["stats"]
    busy = " !" if _other(r) >= BUSY_CORES else ""
    return f"{s['median_ns'] / 1e6:.3g} ({s['min_ns'] / 1e6:.3g}-{s['max_ns'] / 1e6:.3g}){busy}"


def _throughput(r: dict[str, Any] | None, _: Any) -> str:
    return _status(r) if r is None or r["status"] != "ok" else f"{r['items_per_s']:,.0f}"


def _vs_baseline(r: dict[str, Any] | None, _: Any) -> str:
    if r is None or r["status"] != "ok":
        return _status(r)
    ratio = r.get("ratio_to_baseline")
    return "-" if ratio is None else _ratio(ratio)


def _gflops(r: dict[str, Any] | None, _: Any) -> str:
    if r is None or r["status"] != "ok":
        return _status(r)
    fraction = r.get("peak_fraction")
    return f"{r['gflops']:.2f}" + (f" ({fraction:.0%})" if fraction is not None else "")


def _vs_torch(r: dict[str, Any] | None, cells: dict[tuple[int, int, str], Any]) -> str:
    if r is None or r["status"] != "ok":
        return _status(r)
    torch = cells.get((r["threads"], r["batch"], "torch"))
    if torch is None or torch["status"] != "ok":
        return "-"
    return _ratio(r["stats"]["median_ns"] / torch["stats"]["median_ns"])


def _ratio(value: float) -> str:
    """Two decimals, or two significant digits below 0.1 (``0.0046x``, not ``0.00x``)."""
    return f"{value:.2f}x" if value >= 0.095 else f"{value:.2g}x"


def _rss(cells: dict[tuple[int, int, str], Any], threads: int, target: str) -> str:
    sizes = [(c.get("worker") or {}).get("max_rss_bytes") for k, c in cells.items()
             if k[0] == threads and k[2] == target]  # fmt: skip
    known = [s for s in sizes if s]
    return f"{max(known) / 2**20:.0f}" if known else "-"


def _status(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return "FAILED" if r["status"] == "failed" else r["status"]


def _other(r: dict[str, Any]) -> float:
    return float((r.get("worker") or {}).get("other_cores") or 0.0)


def _num(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _not_run(doc: dict[str, Any]) -> list[str]:
    seen: dict[tuple[str, str], str] = {}
    for r in doc["results"]:
        if r["status"] not in ("ok",):
            seen.setdefault((r["target"], r["status"]), r["reason"])
    if not seen:
        return []
    lines = ["## Not run or not timed", ""]
    lines += [f"- {target}: {status}: {reason}" for (target, status), reason in seen.items()]
    return [*lines, ""]


def _busy(doc: dict[str, Any]) -> list[str]:
    busy = [r for r in doc["results"] if r["status"] == "ok" and _other(r) >= BUSY_CORES]
    if not busy:
        return ["Every timed cell ran while other processes kept under "
                f"{BUSY_CORES} cores busy.", ""]  # fmt: skip
    lines = ["## Measured on a busy machine (`!`)", ""]
    lines += [f"- {r['model']} {r['target']} batch {r['batch']}, {r['threads']} thread(s): "
              f"other processes kept {_other(r):.2f} cores busy" for r in busy]  # fmt: skip
    return [*lines, ""]


def _compile(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    sizes = data.get("sizes", [])
    intro = (
        "Median seconds per stage on synthetic graphs; the growth exponent is the slope of "
        "log(time) against log(nodes) (1 linear, 2 quadratic)."
    )
    lines = ["## Compile time", "", intro, ""]
    lines.append(_header(["stage", *[f"{s:,} nodes" for s in sizes], "exponent", "flag"]))
    for stage in data.get("stages", []):
        by_size = {t["size"]: t["median_s"] for t in stage.get("timings", [])}
        times = [_num(by_size.get(s), "{:.3g}") for s in sizes]
        flag = "QUADRATIC?" if stage.get("quadratic") else ""
        exponent = _num(stage.get("exponent"), "{:.2f}")
        lines.append(_md_row([stage.get("label", stage.get("stage", "?")), *times, exponent, flag]))
    lines += [""] + [f"- {note}" for note in data.get("notes", [])]
    return [*lines, ""]


def _header(columns: list[str]) -> str:
    return _md_row(columns) + "\n" + _md_row(["---"] * len(columns))


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
