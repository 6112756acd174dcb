"""Time the planned executor's heavy kernels against the op references they replace.

    python benchmarks/executor_kernels.py                    # batch 1 and 32
    python benchmarks/executor_kernels.py --threads 1 --only conv --strategies
    python benchmarks/executor_kernels.py --json out.json

Each case is one node on the zoo's shapes (conv on lenet's and resnet_small's
layers in NCHW and NHWC, linear, layer_norm, gelu, softmax, attention), float32,
seeded inputs. Three ways, timed one call after the other in turn (interleaved,
so a slow spell of the machine hits all of them alike):

- ``kernel``: the executor kernel (``EXECUTOR_KERNELS``) writing into
  preallocated outputs and workspace, as the executor calls it;
- ``reference``: the op's reference (float64, written for clarity), what the
  executor would run without the kernel;
- ``numpy``: a straightforward float32 NumPy version of the same math
  (sliding-window im2col + tensordot for conv, unblocked allocating passes for
  the rest, a polynomial erf for GELU): the issue's baseline, a harder bar.

Reported: the median of ``--reps`` calls each (after one warm-up call) and the
ratios reference/kernel and numpy/kernel (> 1: the kernel is faster). Every
kernel result is checked against the reference first (rtol 1e-4, atol 1e-4).
``--strategies`` also times every convolution strategy that applies
(``conv_geometry.applicable_strategies``), interleaved with the planned one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One node to time: op, inputs by batch size, attributes, a float32 NumPy baseline."""

    name: str
    group: str
    op: str
    make: Callable[[Any, int], list[Any]]
    attrs: dict[str, Any] = field(default_factory=dict)
    numpy: Callable[[list[Any], dict[str, Any]], Any] | None = None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:  # before NumPy loads its BLAS
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    rows = []
    for case in _cases():
        if args.only and not any(word in case.name for word in args.only.split(",")):
            continue
        for batch in (int(b) for b in args.batch.split(",")):
            row = measure(case, batch, args)
            rows.append(row)
            _print_row(row, first=len(rows) == 1)
    if args.json:
        document = {"environment": _environment(), "settings": vars(args), "rows": rows}
        from nanograph.backends.atomic_write import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(document, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1,32", help="batch sizes")
    parser.add_argument("--reps", type=int, default=21, help="timed calls per variant")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per case at most")
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (0: default)")
    parser.add_argument("--only", default="", help="comma-separated substrings of case names")
    parser.add_argument("--strategies", action="store_true", help="time every conv strategy")
    parser.add_argument("--json", metavar="F", help="also write the figures as JSON")
    return parser


# the cases ----------------------------------------------------------------------------------
def _conv_cases() -> list[Case]:
    layers = [  # name, C, H, O, k, stride, pad, activation
        ("lenet.conv1", 1, 28, 6, 5, 1, 2, "relu"),
        ("lenet.conv2", 6, 14, 16, 5, 1, 0, "relu"),
        ("resnet.stem", 3, 32, 16, 3, 1, 1, "relu"),
        ("resnet.16x32", 16, 32, 16, 3, 1, 1, "relu"),
        ("resnet.down16", 16, 32, 32, 3, 2, 1, "relu"),
        ("resnet.1x1s2", 16, 32, 32, 1, 2, 0, "none"),
        ("resnet.32x16", 32, 16, 32, 3, 1, 1, "relu"),
        ("resnet.down32", 32, 16, 64, 3, 2, 1, "relu"),
        ("resnet.64x8", 64, 8, 64, 3, 1, 1, "relu"),
    ]
    cases = []
    for layout in ("NCHW", "NHWC"):
        for name, c, h, o, k, s, p, act in layers:

            def make(
                np: Any,
                n: int,
                c: int = c,
                h: int = h,
                o: int = o,
                k: int = k,
                layout: str = layout,
            ) -> list[Any]:
                rng = np.random.default_rng(0)
                x_shape = (n, c, h, h) if layout == "NCHW" else (n, h, h, c)
                w_shape = (o, c, k, k) if layout == "NCHW" else (o, k, k, c)
                x = rng.standard_normal(x_shape).astype(np.float32)
                w = (rng.standard_normal(w_shape) / math.sqrt(c * k * k)).astype(np.float32)
                return [x, w, rng.standard_normal(o).astype(np.float32)]

            attrs = {"layout": layout, "strides": (s, s), "pads": (p,) * 4, "activation": act}
            cases.append(
                Case(f"conv {name} {layout}", "conv", "fused_conv2d", make, attrs, _numpy_conv)
            )
    return cases


def _cases() -> list[Case]:
    def tokens(d: int, s: int = 65) -> Callable[[Any, int], list[Any]]:
        return lambda np, n: [
            np.random.default_rng(1).standard_normal((n, s, d)).astype(np.float32)
        ]

    def linear(d_in: int, d_out: int) -> Callable[[Any, int], list[Any]]:
        def make(np: Any, n: int) -> list[Any]:
            rng = np.random.default_rng(2)
            x = rng.standard_normal((n, 65, d_in)).astype(np.float32)
            w = (rng.standard_normal((d_in, d_out)) / math.sqrt(d_in)).astype(np.float32)
            return [x, w, rng.standard_normal(d_out).astype(np.float32)]

        return make

    def layer_norm(np: Any, n: int) -> list[Any]:
        rng = np.random.default_rng(3)
        x = rng.standard_normal((n, 65, 64)).astype(np.float32)
        return [
            x,
            rng.standard_normal(64).astype(np.float32),
            rng.standard_normal(64).astype(np.float32),
        ]

    def scores(np: Any, n: int) -> list[Any]:
        return [np.random.default_rng(4).standard_normal((n, 4, 65, 65)).astype(np.float32) * 3]

    def qkv(np: Any, n: int) -> list[Any]:
        rng = np.random.default_rng(5)
        return [rng.standard_normal((n, 65, 64)).astype(np.float32) for _ in range(3)]

    return [
        *_conv_cases(),
        Case("linear 64->192 (vit qkv)", "linear", "linear", linear(64, 192), {}, _numpy_linear),
        Case(
            "linear 64->128 gelu (vit mlp)",
            "linear",
            "linear",
            linear(64, 128),
            {"activation": "gelu"},
            _numpy_linear,
        ),
        Case("linear 128->64 (vit mlp)", "linear", "linear", linear(128, 64), {}, _numpy_linear),
        Case("layer_norm [N,65,64]", "norm", "layer_norm", layer_norm, {}, _numpy_layer_norm),
        Case("gelu [N,65,128]", "gelu", "gelu", tokens(128), {}, _numpy_gelu),
        Case(
            "gelu tanh [N,65,128]",
            "gelu",
            "gelu",
            tokens(128),
            {"approximate": "tanh"},
            _numpy_gelu_tanh,
        ),
        Case("softmax [N,4,65,65]", "softmax", "softmax", scores, {}, _numpy_softmax),
        Case(
            "attention [N,65,4x16]",
            "attention",
            "attention",
            qkv,
            {"num_heads": 4},
            _numpy_attention,
        ),
    ]


# straightforward float32 NumPy baselines -------------------------------------------------------
def _numpy_conv(ins: list[Any], attrs: dict[str, Any]) -> Any:
    import numpy as np

    x, w, b = ins
    s, p = attrs["strides"][0], attrs["pads"][0]
    if attrs["layout"] == "NHWC":
        x, w = x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    k = w.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    out = np.tensordot(win, w, axes=((1, 4, 5), (1, 2, 3))) + b  # [N, Ho, Wo, O]
    out = np.maximum(out, 0) if attrs["activation"] == "relu" else out
    return out.transpose(0, 3, 1, 2) if attrs["layout"] == "NCHW" else out


def _numpy_linear(ins: list[Any], attrs: dict[str, Any]) -> Any:
    y = ins[0] @ ins[1] + ins[2]
    return _numpy_gelu([y], {}) if attrs.get("activation") == "gelu" else y


def _numpy_layer_norm(ins: list[Any], attrs: dict[str, Any]) -> Any:
    x, scale, bias = ins
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / (var + 1e-5) ** 0.5 * scale + bias


def _numpy_gelu(ins: list[Any], attrs: dict[str, Any]) -> Any:
    import numpy as np

    x = ins[0]
    z = np.abs(x) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = np.sign(x) * (1 - poly * np.exp(-z * z))
    return 0.5 * x * (1 + erf)


def _numpy_gelu_tanh(ins: list[Any], attrs: dict[str, Any]) -> Any:
    import numpy as np

    x = ins[0]
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


def _numpy_softmax(ins: list[Any], attrs: dict[str, Any]) -> Any:
    import numpy as np

    e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy_attention(ins: list[Any], attrs: dict[str, Any]) -> Any:
    q, k, v = (x.reshape(x.shape[0], x.shape[1], 4, -1).transpose(0, 2, 1, 3) for x in ins)
    p = _numpy_softmax([q @ k.transpose(0, 1, 3, 2) * (1 / math.sqrt(q.shape[-1]))], {})
    y = p @ v
    return y.transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[2], -1)


# measuring ----------------------------------------------------------------------------------
def measure(case: Case, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from nanograph.backends.planned.kernels import EXECUTOR_KERNELS
    from nanograph.backends.planned.kernels.conv import run_conv, scratch_bytes
    from nanograph.backends.planned.kernels.conv_geometry import (
        applicable_strategies,
        conv_geometry,
    )
    from nanograph.ir.ops import get_op
    from nanograph.ir.types import DType, TensorType

    opdef = get_op(case.op)
    attrs = opdef.make_attrs(case.attrs)
    inputs = case.make(np, batch)
    types = [TensorType(DType.parse(x.dtype), x.shape) for x in inputs]
    out_types = opdef.infer(types, attrs)
    kernel = EXECUTOR_KERNELS[case.op]
    outs = [np.empty(tuple(int(d) for d in t.shape), t.dtype.numpy) for t in out_types]
    workspace = np.empty(max(kernel.workspace_bytes(types, out_types, attrs), 1), np.uint8)
    variants: dict[str, Callable[[], Any]] = {
        "kernel": lambda: kernel.run(inputs, attrs, outs, workspace),
        "reference": lambda: opdef.reference(inputs, attrs),
    }
    if case.numpy is not None:
        variants["numpy"] = lambda: case.numpy(inputs, case.attrs)  # type: ignore[misc]
    strategy = None
    if case.group == "conv":
        g = conv_geometry(inputs[0].shape, inputs[1].shape, attrs)
        strategy = g.strategy
        for other in applicable_strategies(g)[1:] if args.strategies else []:
            go = conv_geometry(inputs[0].shape, inputs[1].shape, attrs, 4, other)
            ws = np.empty(scratch_bytes(go, attrs["activation"]), np.uint8)
            out = np.empty_like(outs[0])
            variants[other] = lambda go=go, ws=ws, out=out: run_conv(inputs, attrs, [out], ws, go)
    expected = opdef.reference(inputs, attrs)[0]
    variants["kernel"]()
    np.testing.assert_allclose(outs[0], expected, rtol=1e-4, atol=1e-4, err_msg=case.name)
    times = _interleaved(variants, args.reps, args.budget)
    kernel_ms = times["kernel"]
    row = {
        "case": case.name,
        "batch": batch,
        "strategy": strategy,
        **{f"{k}_ms": v for k, v in times.items()},
    }
    row["reference_over_kernel"] = times["reference"] / kernel_ms
    if "numpy" in times:
        row["numpy_over_kernel"] = times["numpy"] / kernel_ms
    return row


def _interleaved(
    variants: dict[str, Callable[[], Any]], reps: int, budget: float
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up
        fn()
    start = time.perf_counter()
    for rep in range(reps):
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
        if rep >= 4 and time.perf_counter() - start > budget:
            break
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


def _print_row(row: dict[str, Any], first: bool) -> None:
    if first:
        print(
            f"{'case':38} {'N':>3} {'kernel ms':>10} {'ref ms':>9} {'numpy ms':>9} "
            f"{'ref/kern':>9} {'np/kern':>8}  strategy (others ms)"
        )
    others = {
        k[:-3]: v
        for k, v in row.items()
        if k.endswith("_ms") and k[:-3] not in ("kernel", "reference", "numpy")
    }
    extra = " ".join(f"{k}={v:.3f}" for k, v in others.items())
    numpy_ms = row.get("numpy_ms", float("nan"))
    print(
        f"{row['case']:38} {row['batch']:>3} {row['kernel_ms']:>10.3f} {row['reference_ms']:>9.2f} "
        f"{numpy_ms:>9.3f} {row['reference_over_kernel']:>9.1f} "
        f"{row.get('numpy_over_kernel', float('nan')):>8.2f}  {row['strategy'] or ''} {extra}",
        flush=True,
    )


def _environment() -> dict[str, Any]:
    """The machine and software, as ``nanograph bench`` records them."""
    from nanograph.bench.environment import describe_environment

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return {**describe_environment(), "blas_threads": threads}


if __name__ == "__main__":
    sys.exit(main())
