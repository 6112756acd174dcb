"""Measure what the layout planner's cost model reads: conv time in NCHW and in NHWC, and the
cost of a boundary transpose.

    python benchmarks/layout_costs.py                    # print the table
    python benchmarks/layout_costs.py --write            # ... and regenerate the module
    python benchmarks/layout_costs.py --batch 1,32 --reps 30 --json out.json

Conv geometries: every ``conv2d``/``fused_conv2d`` of the zoo's CNNs (lenet,
resnet_small, sagan) after O2, at each ``--batch``. Each geometry runs in both
layouts on the same seeded float32 input (each layout's weights laid out for
it beforehand, as the pass does at compile time), timed one call after the
other in turn (interleaved, so a slow spell of the machine hits both alike);
reported: the median of ``--reps`` calls after a warm-up call. Before timing,
both results are checked against the op's reference (rtol 1e-4, atol 1e-4).

The kernels timed are the planned executor's (``EXECUTOR_KERNELS["conv2d"]``
from ``nanograph.backends.planned.kernels``, or ``KERNELS["conv2d"]`` of its
``conv`` module, called through the ``Kernel`` contract with its workspace)
when they exist and ``--standins`` is not given, else this script's
stand-ins, written the way the issue specifies the executor's kernels:

- NCHW: im2col (one ``[N, C*kh*kw, Ho*Wo]`` buffer, a strided copy per tap)
  then one GEMM per image, ``W[O, C*kh*kw] @ cols``;
- NHWC: a sum of shifted GEMMs: per tap ``(i, j)``, ``x[., i:, j:, C] @
  W[i, j][C, O]`` accumulated into the output; at stride 1 the tap is a
  contiguous row range of the padded input (outputs computed over the padded
  width, the extra columns dropped at the end), else a strided copy first;
- both: a 1x1, stride-1, unpadded conv is one GEMM with no copy.

Transposes: ``np.copyto(out, x.transpose(perm))`` NCHW -> NHWC and back for
each conv input shape (with more than one channel and pixel: others are
plain copies) and batch: ``a + b * KiB``, ``b`` fitted by least squares, ``a``
the median of what ``b`` leaves unexplained.

``--end-to-end`` then checks the model's decisions where they matter: each
model on the planned executor at O2, all NCHW, as ``plan-layout`` plans it
with the costs just measured, and all NHWC (interleaved, median ms).

``--write`` regenerates ``passes/layout/measured_costs.py`` (the module
constant the cost model reads) with this command line, the machine and the
kernels used. Run it on an idle machine: ``--threads`` pins BLAS threads
(default: NumPy's own choice, as the executor runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "passes" / "layout" / "measured_costs.py"
ZOO_CNNS = ("lenet", "resnet_small", "sagan")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:  # before NumPy loads its BLAS
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    batches = tuple(int(b) for b in args.batch.split(","))
    geometries = zoo_conv_geometries(args.models.split(","))
    kernels = ConvKernels.load(force_standins=args.standins)
    print(f"kernels: {kernels.description}")
    rows = []
    for batch in batches:
        for g in geometries:
            geo = g.at_batch(batch)
            nchw, nhwc = time_conv(geo, kernels, args.reps)
            rows.append((geo, nchw, nhwc))
            print(
                f"  {geo}: NCHW {nchw:9.1f} us  NHWC {nhwc:9.1f} us  NHWC/NCHW {nhwc / nchw:5.2f}"
            )
    fixed, per_kb, samples = time_transposes(geometries, batches, args.reps)
    print(f"transpose: {fixed:.2f} us + {per_kb:.4f} us/KiB (fit over {len(samples)} copies)")
    command = "python benchmarks/layout_costs.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    from nanograph.backends.atomic_write import atomic_write_bytes

    if args.json:
        document = _json(rows, fixed, per_kb, samples, kernels)
        atomic_write_bytes(args.json, json.dumps(document, indent=1).encode())
    if args.write:
        text = module_text(rows, fixed, per_kb, kernels, command.strip(), batches)
        atomic_write_bytes(MODULE, text.encode())
        print(f"wrote {MODULE.relative_to(ROOT)}")
    if args.end_to_end:
        measured = {g: (nchw, nhwc) for g, nchw, nhwc in rows}
        time_end_to_end(args.models.split(","), batches, args.reps, measured, (fixed, per_kb))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", default="1,32", help="batch sizes, comma-separated (default 1,32)")
    p.add_argument("--models", default=",".join(ZOO_CNNS), help="zoo models to take convs from")
    p.add_argument("--reps", type=int, default=25, help="timed calls per kernel (median)")
    p.add_argument("--threads", type=int, default=0, help="BLAS threads (default: NumPy's)")
    p.add_argument(
        "--standins",
        action="store_true",
        help="time the stand-ins even if the executor's kernels exist",
    )
    p.add_argument("--write", action="store_true", help=f"regenerate {MODULE.relative_to(ROOT)}")
    p.add_argument("--json", help="write every row to this JSON file")
    p.add_argument(
        "--end-to-end",
        action="store_true",
        help="then time each model on the planned executor: all NCHW, as planned, all NHWC",
    )
    return p


# the zoo's convs ------------------------------------------------------------------------
def zoo_conv_geometries(models: Sequence[str]) -> list[Any]:
    """Distinct conv geometries (at batch 1) of ``models`` after O2."""
    from nanograph.model_loading import load_model
    from nanograph.passes import PIPELINES, run_pipeline
    from nanograph.passes.layout.conv_geometry import CONV_OPS, conv_geometry

    found = {}
    for name in models:
        graph = load_model(name).trace()
        run_pipeline(graph, PIPELINES["O2"])
        for node in graph.nodes:
            if node.op in CONV_OPS and node.attrs["layout"] == "NCHW":
                geo = conv_geometry(node, batch=1)
                if geo is not None:
                    found.setdefault(geo, None)
    return sorted(found)


# kernels ----------------------------------------------------------------------------------
class ConvKernels:
    """``run(layout, geometry)`` -> a zero-argument call computing one conv into fixed buffers."""

    def __init__(self, description: str, prepare: Callable[..., Callable[[], Any]]) -> None:
        self.description = description
        self.prepare = prepare

    @classmethod
    def load(cls, force_standins: bool = False) -> ConvKernels:
        kernel = None if force_standins else _executor_conv_kernel()
        if kernel is not None:
            return cls("the planned executor's conv2d kernel", _executor(kernel))
        return cls("stand-ins: NCHW im2col + GEMM, NHWC sum of shifted GEMMs", _standin)


def _executor_conv_kernel() -> Any:
    """The executor's conv2d ``Kernel``: from ``EXECUTOR_KERNELS``, else from the kernel
    module itself (while the registry is being written); None if neither exists."""
    try:
        from nanograph.backends.planned.kernels import EXECUTOR_KERNELS

        return EXECUTOR_KERNELS.get("conv2d")
    except ImportError:
        pass
    try:
        from nanograph.backends.planned.kernels.conv import KERNELS
    except ImportError:
        return None
    return KERNELS.get("conv2d")


def _executor(kernel: Any) -> Callable[..., Callable[[], Any]]:
    import numpy as np

    from nanograph.ir.ops import get_op
    from nanograph.ir.types import type_of_array

    def prepare(layout: str, geo: Any, x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
        attrs = get_op("conv2d").make_attrs(_attrs(geo, layout))
        ins = [x, w, b]
        types = [type_of_array(a) for a in ins]
        nbytes = kernel.workspace_bytes(types, [type_of_array(out)], attrs)
        workspace = np.empty(nbytes, np.uint8) if nbytes else None
        return lambda: kernel.run(ins, attrs, [out], workspace)

    return prepare


def _attrs(geo: Any, layout: str) -> dict[str, Any]:
    return {
        "strides": geo.strides,
        "pads": geo.pads,
        "dilations": geo.dilations,
        "groups": geo.groups,
        "layout": layout,
    }


def _standin(layout: str, geo: Any, x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
    if geo.groups != 1:
        raise SystemExit(f"the stand-ins do grouped convs only through the executor: {geo}")
    one_by_one = (geo.kh, geo.kw, geo.strides, geo.pads) == (1, 1, (1, 1), (0, 0, 0, 0))
    if layout == "NCHW":
        return _gemm_nchw(x, w, b, out) if one_by_one else _im2col_nchw(geo, x, w, b, out)
    return _gemm_nhwc(x, w, b, out) if one_by_one else _shifted_nhwc(geo, x, w, b, out)


def _gemm_nchw(x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
    import numpy as np

    n, c, h, wd = x.shape
    x3, o3, w2 = x.reshape(n, c, h * wd), out.reshape(n, -1, h * wd), w.reshape(w.shape[0], c)
    bias = b[:, None]

    def run() -> None:
        np.matmul(w2, x3, out=o3)
        np.add(o3, bias, out=o3)

    return run


def _gemm_nhwc(x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
    import numpy as np

    c = x.shape[3]
    x2, o2, wt = (
        x.reshape(-1, c),
        out.reshape(-1, w.shape[0]),
        np.ascontiguousarray(w.reshape(-1, c).T),
    )

    def run() -> None:
        np.matmul(x2, wt, out=o2)
        np.add(o2, b, out=o2)

    return run


def _im2col_nchw(geo: Any, x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
    import numpy as np

    n, c = geo.batch, geo.c_in
    ho, wo = geo.out_hw
    (sh, sw), (dh, dw) = geo.strides, geo.dilations
    pt, pl, pb, pr = geo.pads
    xp = np.zeros((n, c, geo.h + pt + pb, geo.w + pl + pr), np.float32)
    cols = np.empty((n, c, geo.kh, geo.kw, ho, wo), np.float32)
    cols3 = cols.reshape(n, c * geo.kh * geo.kw, ho * wo)
    w2 = w.reshape(geo.c_out, -1)
    o3 = out.reshape(n, geo.c_out, ho * wo)
    bias = b[:, None]
    inner = xp[:, :, pt : pt + geo.h, pl : pl + geo.w]
    taps = [
        (
            i,
            j,
            xp[
                :,
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ],
        )
        for i in range(geo.kh)
        for j in range(geo.kw)
    ]

    def run() -> None:
        np.copyto(inner, x)
        for i, j, tap in taps:
            np.copyto(cols[:, :, i, j], tap)
        np.matmul(w2, cols3, out=o3)
        np.add(o3, bias, out=o3)

    return run


def _shifted_nhwc(geo: Any, x: Any, w: Any, b: Any, out: Any) -> Callable[[], Any]:
    import numpy as np

    n, c, o = geo.batch, geo.c_in, geo.c_out
    ho, wo = geo.out_hw
    (sh, sw), (dh, dw) = geo.strides, geo.dilations
    pt, pl, pb, pr = geo.pads
    hp, wp = geo.h + pt + pb, geo.w + pl + pr
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # OHWI -> [kh, kw, C, O]
    if (sh, sw) == (1, 1):
        # One extra padded row: the last tap's row range runs kw-1 elements past the end.
        xp = np.zeros((n, hp + 1, wp, c), np.float32)
        flat = xp.reshape(n, (hp + 1) * wp, c)
        acc = np.empty((n, ho * wp, o), np.float32)
        tmp = np.empty_like(acc)
        rows = ho * wp
        taps = [
            (flat[:, i * dh * wp + j * dw : i * dh * wp + j * dw + rows], wt[i, j])
            for i in range(geo.kh)
            for j in range(geo.kw)
        ]
        inner = xp[:, pt : pt + geo.h, pl : pl + geo.w]
        wide = acc.reshape(n, ho, wp, o)[:, :, :wo]

        def run() -> None:
            np.copyto(inner, x)
            np.matmul(taps[0][0], taps[0][1], out=acc)
            for rows_ij, w_ij in taps[1:]:
                np.matmul(rows_ij, w_ij, out=tmp)
                np.add(acc, tmp, out=acc)
            np.add(wide, b, out=out)

        return run
    xp = np.zeros((n, hp, wp, c), np.float32)
    inner = xp[:, pt : pt + geo.h, pl : pl + geo.w]
    buf = np.empty((n, ho, wo, c), np.float32)
    buf2 = buf.reshape(-1, c)
    o2 = out.reshape(-1, o)
    tmp = np.empty_like(o2)
    taps = [
        (
            xp[
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ],
            wt[i, j],
        )
        for i in range(geo.kh)
        for j in range(geo.kw)
    ]

    def run_strided() -> None:
        np.copyto(inner, x)
        for k, (tap, w_ij) in enumerate(taps):
            np.copyto(buf, tap)
            np.matmul(buf2, w_ij, out=o2 if k == 0 else tmp)
            if k:
                np.add(o2, tmp, out=o2)
        np.add(o2, b, out=o2)

    return run_strided


# timing -----------------------------------------------------------------------------------
def time_conv(geo: Any, kernels: ConvKernels, reps: int) -> tuple[float, float]:
    """Median microseconds per call (NCHW, NHWC) after checking both against the reference."""
    import numpy as np

    from nanograph.ir.ops import get_op

    rng = np.random.default_rng(0)
    x = rng.standard_normal((geo.batch, geo.c_in, geo.h, geo.w), dtype=np.float32)
    w = rng.standard_normal((geo.c_out, geo.c_in // geo.groups, geo.kh, geo.kw), dtype=np.float32)
    w *= 1.0 / np.sqrt(w[0].size)
    b = rng.standard_normal(geo.c_out, dtype=np.float32)
    attrs = get_op("conv2d").make_attrs(_attrs(geo, "NCHW"))
    want = get_op("conv2d").reference([x, w, b], attrs)[0]
    ho, wo = geo.out_hw
    out_nchw = np.empty((geo.batch, geo.c_out, ho, wo), np.float32)
    out_nhwc = np.empty((geo.batch, ho, wo, geo.c_out), np.float32)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    w_ohwi = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
    calls = {
        "NCHW": kernels.prepare("NCHW", geo, x, w, b, out_nchw),
        "NHWC": kernels.prepare("NHWC", geo, x_nhwc, w_ohwi, b, out_nhwc),
    }
    for call in calls.values():
        call()
    for got, layout in ((out_nchw, "NCHW"), (out_nhwc.transpose(0, 3, 1, 2), "NHWC")):
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
            err = float(np.abs(got - want).max())
            raise SystemExit(f"{layout} kernel is wrong on {geo}: max abs error {err:.3g}")
    medians = _interleaved(calls, reps)
    return medians["NCHW"], medians["NHWC"]


def _interleaved(calls: dict[str, Callable[[], Any]], reps: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(reps):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1e6 for k, v in times.items()}


def time_transposes(
    geometries: Sequence[Any], batches: Sequence[int], reps: int
) -> tuple[float, float, list[tuple[int, float]]]:
    """(fixed us, us per KiB, the (bytes, us) samples) of NCHW <-> NHWC copies."""
    import numpy as np

    # A unit channel or spatial extent makes the transpose a plain copy (the cost model
    # prices those as a view): fit only the transposes that really reorder.
    shapes = sorted(
        {(b, g.c_in, g.h, g.w) for g in geometries for b in batches if min(g.c_in, g.h * g.w) > 1}
    )
    samples = []
    for shape in shapes:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        y = np.empty((shape[0], shape[2], shape[3], shape[1]), np.float32)
        calls = {
            "in": lambda x=x, y=y: np.copyto(y, x.transpose(0, 2, 3, 1)),
            "out": lambda x=x, y=y: np.copyto(x, y.transpose(0, 3, 1, 2)),
        }
        for us in _interleaved(calls, reps).values():
            samples.append((x.nbytes, us))
    kib = np.array([s[0] / 1024 for s in samples])
    us = np.array([s[1] for s in samples])
    per_kib = float(np.polyfit(kib, us, 1)[0])
    # The intercept of a least-squares line is at the mercy of the large copies' noise: take
    # the median of what the slope leaves unexplained instead.
    fixed = float(np.median(us - per_kib * kib))
    return max(fixed, 0.0), per_kib, samples


def time_end_to_end(
    models: Sequence[str],
    batches: Sequence[int],
    reps: int,
    measured: dict[Any, tuple[float, float]],
    transpose: tuple[float, float],
) -> None:
    """Each model at O2 on the planned executor three ways, interleaved: all NCHW (O2 as it
    is), as ``plan-layout`` plans it with the costs just measured, and all NHWC (every
    NCHW conv priced 1000x, transposes free); median ms per call and the ratio to NCHW."""
    import numpy as np

    from nanograph.backends.planned.executor import PlannedExecutor
    from nanograph.model_loading import load_model
    from nanograph.passes import PIPELINES, run_pipeline
    from nanograph.passes.layout import LayoutCostModel, make_plan_layout
    from nanograph.passes.pipelines import NUMPY_LAYOUT

    planned = LayoutCostModel(measured, *transpose, batches=tuple(batches))
    forced = LayoutCostModel(
        {g: (nchw * 1000, nhwc) for g, (nchw, nhwc) in measured.items()}, 0.0, 0.0, (1,)
    )
    print("end to end on the planned executor (median ms per call; / all NCHW):")
    for name in models:
        graph = load_model(name).trace()
        run_pipeline(graph, PIPELINES["O2"])
        runs = {}
        for label, model in (("NCHW", None), ("planned", planned), ("NHWC", forced)):
            g = graph.copy()
            if model is not None:
                run_pipeline(g, [make_plan_layout(model), *NUMPY_LAYOUT[1:]])
            runs[label] = PlannedExecutor(g)
            convs = [n for n in g.nodes if n.op in ("conv2d", "fused_conv2d")]
            nhwc = sum(n.attrs["layout"] == "NHWC" for n in convs)
            print(f"  {name} {label}: {nhwc} of {len(convs)} convs in NHWC")
        for batch in batches:
            shape = (batch, *graph.inputs[0].type.shape[1:])
            x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
            feeds = {graph.inputs[0].name: x}
            calls = {label: (lambda e=exe, f=feeds: e.run(f)) for label, exe in runs.items()}
            for call in calls.values():
                call()
            ms = {k: us / 1000 for k, us in _interleaved(calls, reps).items()}
            cells = "  ".join(f"{k} {v:8.3f} ({v / ms['NCHW']:.2f})" for k, v in ms.items())
            print(f"  {name} N={batch}: {cells}")


# output -----------------------------------------------------------------------------------
def module_text(
    rows: Sequence[tuple[Any, float, float]],
    fixed: float,
    per_kib: float,
    kernels: ConvKernels,
    command: str,
    batches: Sequence[int],
) -> str:
    import numpy as np

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "NumPy's default")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    entries = "\n".join(
        f"    {_geo_literal(g)}: ({nchw:.1f}, {nhwc:.1f})," for g, nchw, nhwc in rows
    )
    return f'''"""Measured figures the layout cost model reads (generated: do not edit by hand).

Regenerate on an idle machine, from the repository root:

    {command}

Measured {when} on {platform.machine()}, {os.cpu_count()} CPUs, Python
{platform.python_version()}, NumPy {np.__version__}, BLAS threads: {threads}.
Conv kernels: {kernels.description}
(``benchmarks/layout_costs.py`` says what they do).

``CONV_US`` maps a conv's geometry to the median microseconds of one call in
(NCHW, NHWC), float32, weights already laid out for the layout;
``TRANSPOSE_US_FIXED`` + ``TRANSPOSE_US_PER_KIB`` * KiB is the fitted time of
one NCHW <-> NHWC copy. ``BATCHES`` are the batch sizes measured.
"""

from __future__ import annotations

from nanograph.passes.layout.conv_geometry import ConvGeometry

{_assign("COMMAND", command)}
{_assign("KERNELS", kernels.description)}
BATCHES: tuple[int, ...] = {tuple(batches)!r}
TRANSPOSE_US_FIXED = {fixed:.3f}
TRANSPOSE_US_PER_KIB = {per_kib:.5f}
CONV_US: dict[ConvGeometry, tuple[float, float]] = {{
{entries}
}}

__all__ = ["BATCHES", "COMMAND", "CONV_US", "KERNELS", "TRANSPOSE_US_FIXED", "TRANSPOSE_US_PER_KIB"]
'''


def _assign(name: str, text: str) -> str:
    """``NAME = "text"``, wrapped in parentheses as ruff formats it when over 100 columns."""
    line = f"{name} = {json.dumps(text)}"
    return line if len(line) <= 100 else f"{name} = (\n    {json.dumps(text)}\n)"


def _geo_literal(g: Any) -> str:
    return (
        f"ConvGeometry({g.batch}, {g.c_in}, {g.h}, {g.w}, {g.c_out}, {g.kh}, {g.kw}, "
        f"{g.strides}, {g.pads}, {g.dilations}, {g.groups})"
    )


def _json(rows: Any, fixed: float, per_kib: float, samples: Any, kernels: ConvKernels) -> Any:
    return {
        "kernels": kernels.description,
        "convs": [{"geometry": str(g), "nchw_us": nchw, "nhwc_us": nhwc} for g, nchw, nhwc in rows],
        "transpose": {"fixed_us": fixed, "us_per_kib": per_kib, "samples": samples},
    }


if __name__ == "__main__":
    sys.exit(main())
