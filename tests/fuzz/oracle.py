"""The differential oracle: every way of running a graph agrees with the reference.

Per graph and feed (N bound by the caller, inputs in [-2, 2]) the reference
interpreter at O0 (``numpy-ref``) is the truth. Candidates:

- the planned executor (``numpy``) at O0, O1, O2 and O3;
- onnxruntime CPU (one thread) on the export at O0, O1, O2 and O3 (opset 23,
  attention lowered ``auto``); at O2 also at one other opset (17-25, drawn from
  the feed seed: the exporter lowers ceil-mode pools, dilated average pools,
  gelu and reductions by opset) and, where the graph has attention or a softmax
  that may fuse into one, with attention lowered to ``ms`` and ``plain``;
- the reference on ``import_onnx(export_onnx(graph))`` at O0 and at O2.

Tolerance, scaled by the output's magnitude ``m = max(1, max|reference|)``:
``|got - want| <= ATOL * m + RTOL * |want|`` with RTOL = ATOL = 1e-4. The
reference accumulates in float64 while the executors and onnxruntime run f32
kernels that reorder sums (matmul/conv/reductions over up to ~50 terms,
chains of up to ~10 ops, fusions that fold batch norms into conv weights, and
layer norms that divide a rounding error by sqrt(eps) ~ 3e-3), so f32 rounding
error relative to the largest output value is the yardstick.

Non-finite values: NaN/Inf positions must be where the reference has them for
the planned executor and the round trip. onnxruntime is compared only where
the reference is finite (it differs there by design: its MaxPool gives
-FLT_MAX for a window entirely in padding, ONNX ``Attention`` zeros for a
query whose keys are all hidden, as the exporter documents), and so is the
round trip of a graph with attention (exported as ONNX ``Attention``).
onnxruntime is left out entirely for non-finite feeds (its MaxPool ignores
NaN). With non-finite feeds, graphs using an op in
``KNOWN_NONFINITE_DIVERGENCES`` skip the planned executor, and graphs using one
in ``KNOWN_NONFINITE_EXPORT_DIVERGENCES`` the round trip.
"""

from __future__ import annotations

import contextlib

import numpy as np

import nanograph as ng
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph

RTOL = ATOL = 1e-4
F16_TOL = 1e-3
"""onnxruntime's tolerance for graphs computing in f16: its CPU provider has no f16
kernels for most ops and runs them in f32 between casts, eliding the f16 rounding of
their results (up to half an f16 ulp, 4.9e-4 relative), even with optimizations off."""
LEVELS = ("O0", "O1", "O2", "O3")
OTHER_OPSETS = (17, 18, 19, 20, 21, 22, 24, 25)

KNOWN_NONFINITE_DIVERGENCES: dict[str, str] = {}
"""Ops whose planned kernels knowingly differ from the reference on non-finite
inputs: with non-finite feeds, graphs using them skip the planned executor
(finite feeds still check it). Remove an entry once the two agree."""
KNOWN_NONFINITE_EXPORT_DIVERGENCES = {
    "attention": "the ONNX lowering joins window (and causal where Sq != Skv) into an additive "
    "mask, Where(visible, mask, -inf), that ONNX Attention adds to the scores: a hidden key "
    "whose score is +inf or NaN gives NaN where the reference hides it (ONNX's meaning, kept: "
    "see test_regressions)",
}
"""The same for the round trip ``import(export(graph))``, with non-finite feeds."""


def make_feeds(graph: Graph, n: int, seed: int, nonfinite: bool = False) -> dict[str, np.ndarray]:
    """Inputs in [-2, 2] with the batch bound to ``n``; ``nonfinite`` puts one NaN or
    +-Inf into each input."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = [d if isinstance(d, int) else n for d in v.type.shape]
        x = rng.uniform(-2.0, 2.0, size=shape).astype(np.float32)
        if nonfinite and x.size:
            x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
        feeds[v.name] = x
    return feeds


def mismatch(
    name: str, want: np.ndarray, got: np.ndarray, *, finite_only: bool, tol: float = RTOL
) -> str | None:
    """None if ``got`` matches ``want``; else a one-line description of how it differs.

    ``finite_only`` compares only where ``want`` is finite (NaN/Inf placement unchecked);
    ``tol`` is both the relative and the magnitude-scaled absolute tolerance.
    """
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != reference {want.shape}"
    if got.dtype != want.dtype:
        return f"{name}: dtype {got.dtype} != reference {want.dtype}"
    want64, got64 = want.astype(np.float64), got.astype(np.float64)
    if not finite_only and (
        not np.array_equal(np.isnan(got64), np.isnan(want64))
        or not np.array_equal(
            np.where(np.isinf(got64), got64, 0), np.where(np.isinf(want64), want64, 0)
        )
    ):
        return f"{name}: NaN/Inf positions differ from the reference"
    ok = np.isfinite(want64)
    w, g = want64[ok], got64[ok]
    if w.size == 0:
        return None
    scale = max(1.0, float(np.abs(w).max()))
    with np.errstate(invalid="ignore"):
        err = np.abs(g - w) - tol * (scale + np.abs(w))
    err = np.where(np.isnan(err), np.inf, err)
    if (err > 0).any():
        i = int(np.argmax(err))
        return f"{name}: max excess error {err[i]:.3g} (got {g[i]!r}, reference {w[i]!r})"
    return None


def candidates(graph: Graph, seed: int, nonfinite: bool) -> list[str]:
    """The labels ``compile_candidate`` understands, for this graph and feed."""
    labels = [f"numpy@{lvl}" for lvl in LEVELS]
    if not nonfinite:
        labels += [f"ort-cpu@{lvl}" for lvl in LEVELS]
        labels.append(f"ort-cpu@O2/opset={OTHER_OPSETS[seed % len(OTHER_OPSETS)]}")
        if any(n.op in ("attention", "softmax") for n in graph.nodes):
            labels += ["ort-cpu@O2/attention=ms", "ort-cpu@O2/attention=plain"]
    labels += ["reference(import(export@O0))", "reference(import(export@O2))"]
    ops = {n.op for n in graph.nodes}
    if nonfinite and ops & set(KNOWN_NONFINITE_DIVERGENCES):
        labels = [c for c in labels if not c.startswith("numpy@")]
    if nonfinite and ops & set(KNOWN_NONFINITE_EXPORT_DIVERGENCES):
        labels = [c for c in labels if not c.startswith("reference(import")]
    return labels


def compile_candidate(graph: Graph, label: str) -> ng.Compiled:
    """The candidate named ``label`` (see ``candidates``), compiled."""
    if label.startswith("numpy@"):
        return ng.compile(graph, label.removeprefix("numpy@"), "numpy")
    if label.startswith("ort-cpu@"):
        level, _, option = label.removeprefix("ort-cpu@").partition("/")
        key, _, value = option.partition("=")
        kwargs: dict[str, object] = {"threads": 1}
        if key:
            kwargs[key] = int(value) if key == "opset" else value
        return ng.compile(graph, level, "ort-cpu", **kwargs)  # type: ignore[arg-type]
    level = label.removeprefix("reference(import(export@").removesuffix("))")
    return ng.compile(import_onnx(ng.export_onnx(graph, level=level)), "O0", "numpy-ref")


def _finite_only(graph: Graph, label: str) -> bool:
    """onnxruntime differs from the reference on non-finite values by design (its MaxPool
    gives -FLT_MAX, not -inf, for a window entirely in padding; ONNX ``Attention`` gives
    an all-hidden row zeros, not NaN), so it is compared where the reference is finite;
    so is the round trip of a graph with attention (exported as ONNX ``Attention``)."""
    if label.startswith("ort-cpu@"):
        return True
    may_attend = any(n.op in ("attention", "softmax") for n in graph.nodes)
    return label.startswith("reference(import") and may_attend


def _tolerance(graph: Graph, label: str) -> float:
    computes_f16 = any(
        n.op != "cast" and any(v.type.dtype.value == "f16" for v in n.outputs) for n in graph.nodes
    )
    return F16_TOL if computes_f16 and label.startswith("ort-cpu@") else RTOL


def check_all_agree(graph: Graph, n: int, seed: int, nonfinite: bool = False) -> None:
    """Assert every candidate matches the O0 reference; the message carries the graph."""
    text = print_graph(graph)
    feeds = make_feeds(graph, n, seed, nonfinite)
    with np.errstate(all="ignore") if nonfinite else contextlib.nullcontext():
        want = ng.compile(graph, "O0", "numpy-ref")(feeds)
        problems = []
        for label in candidates(graph, seed, nonfinite):
            try:
                got = compile_candidate(graph, label)(feeds)
            except Exception as err:  # a crash is a finding too: report it with the graph
                problems.append(f"{label}: raised {type(err).__name__}: {err}")
                continue
            if list(got) != list(want):
                problems.append(f"{label}: outputs {list(got)} != reference {list(want)}")
                continue
            for key in want:
                msg = mismatch(
                    key,
                    want[key],
                    got[key],
                    finite_only=_finite_only(graph, label),
                    tol=_tolerance(graph, label),
                )
                if msg:
                    problems.append(f"{label}: {msg}")
    assert not problems, (
        f"differential mismatch at N={n}, feed seed {seed}, nonfinite={nonfinite}:\n  "
        + "\n  ".join(problems)
        + f"\ngraph:\n{text}"
    )
