"""Shared helpers of the planned executor's tests: graphs, test kernels, and the
allocation measure.

``WRITE_KERNELS`` are executor kernels for ``relu`` and ``add`` written for
these tests only (one ``out=`` NumPy call each, in-place safe): they let the
executor's kernel path, in-place outputs and allocation-free steady state be
tested whatever ``EXECUTOR_KERNELS`` covers.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Mapping, Sequence

import numpy as np

import nanograph as ng
from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.program import Program
from nanograph.ir.attrs import Attrs
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.zoo import MODELS


def _relu(ins: Sequence[np.ndarray], attrs: Attrs, outs: Sequence[np.ndarray], ws: object) -> None:
    np.maximum(ins[0], 0, out=outs[0])


def _add(ins: Sequence[np.ndarray], attrs: Attrs, outs: Sequence[np.ndarray], ws: object) -> None:
    np.add(ins[0], ins[1], out=outs[0])


WRITE_KERNELS: dict[str, Kernel] = {
    "relu": Kernel("relu", _relu, inplace_safe=True),
    "add": Kernel("add", _add, inplace_safe=True),
}

MLP = """\
graph mlp(%x: f32[N,16]) -> (f32[N,8]) {
  @w1: f32[16,32]
  @b1: f32[32]
  @w2: f32[32,16]
  @b2: f32[16]
  @gamma: f32[16]
  @beta: f32[16]
  @w3: f32[16,8]
  %h = linear(%x, @w1, @b1) : f32[N,32]  # mlp.py:1
  %r = relu(%h) : f32[N,32]  # mlp.py:2
  %o = linear(%r, @w2, @b2) : f32[N,16]  # mlp.py:3
  %res = add(%o, %x) : f32[N,16]  # mlp.py:4
  %n = layer_norm(%res, @gamma, @beta) : f32[N,16]  # mlp.py:5
  %l = linear(%n, @w3) : f32[N,8]  # mlp.py:6
  %p = softmax(%l) {axis=-1} : f32[N,8]  # mlp.py:7
  return %p
}
"""
MLP_OPS = {"linear", "relu", "add", "layer_norm", "softmax"}


def mlp_graph() -> Graph:
    """A residual MLP of linear/relu/add/layer_norm/softmax with random weights."""
    rng = np.random.default_rng(0)
    shapes = {"w1": (16, 32), "b1": (32,), "w2": (32, 16), "b2": (16,), "w3": (16, 8)}
    shapes |= {"gamma": (16,), "beta": (16,)}
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    return parse_graph(MLP, weights)


def mlp_feeds(batch: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(batch).standard_normal((batch, 16)).astype(np.float32)}


def zoo(name: str) -> tuple[Graph, ng.ModelSpec]:
    module, spec = MODELS[name].build()
    return ng.trace(module, spec, name=name), spec


def zoo_feeds(spec: ng.ModelSpec, batch: int, seq: int = 9) -> dict[str, np.ndarray]:
    """Random feeds at batch ``batch`` (and sequence length ``seq`` where the model has one)."""
    dims = {k: v for k, v in {"N": batch, "S": seq}.items() if k in spec.symbols()}
    feeds: dict[str, np.ndarray] = spec.random_inputs(batch, dims)
    return feeds


ITERATOR_BUFSIZE = 16
"""NumPy's ufunc buffer size (elements) while measuring. A broadcasting ufunc (``add`` of
[N,64] and [64], even with ``out=``) makes its iterator allocate buffers of up to
``np.getbufsize()`` (8192) elements per call, freed at once: 9.3 KB traced at N=32 and
34 KB at N=256 with the default (NumPy 2.4), so a measure at the default grows with the
batch up to 32 KB without any array being allocated. At 16 elements (the least NumPy
takes: a multiple of 16) those buffers are at most 128 bytes per operand, so what grows
beyond that is an array."""


def traced_bytes_per_call(
    run: Callable[[], Mapping[str, np.ndarray] | None], calls: int = 3
) -> int:
    """Bytes traced by ``tracemalloc`` at the peak of one call of ``run``, beyond the data of
    the outputs it returns (the caller's to keep), after two warm-up calls; the least over
    ``calls`` calls, so that only what every call allocates counts. Measured with NumPy's
    iterator buffers at ``ITERATOR_BUFSIZE``."""
    old = np.setbufsize(ITERATOR_BUFSIZE)
    try:
        for _ in range(2):
            run()
        tracemalloc.start()
        least = None
        for _ in range(calls):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            outputs = run()
            peak = tracemalloc.get_traced_memory()[1]
            kept = sum(a.nbytes for a in outputs.values()) if outputs else 0
            least = peak - before - kept if least is None else min(least, peak - before - kept)
            del outputs
    finally:
        tracemalloc.stop()
        np.setbufsize(old)
    assert least is not None
    return least


def traced_bytes_per_step(program: Program, feeds: Mapping[str, np.ndarray]) -> list[int]:
    """``traced_bytes_per_call``'s measure for each step of ``program`` on ``feeds``, in
    order (each step runs once, after the steps before it: in-place steps cannot rerun)."""
    old = np.setbufsize(ITERATOR_BUFSIZE)
    try:
        program.execute(feeds)
        program.execute(feeds)
        for value in program.graph.inputs:
            np.copyto(program.arena.view(value.name, value.type), feeds[value.name])
        traced = []
        tracemalloc.start()
        for step in program.steps:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            step()
            traced.append(tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
        np.setbufsize(old)
    return traced


def steps_that_grow(
    small: tuple[Program, Mapping[str, np.ndarray]],
    large: tuple[Program, Mapping[str, np.ndarray]],
    slack: int,
) -> list[str]:
    """``op %output (+bytes)`` for each step tracing more than ``slack`` bytes more on
    ``large`` than on ``small`` (the same graph at two bindings)."""
    grown = []
    before, after = traced_bytes_per_step(*small), traced_bytes_per_step(*large)
    for (node, _, _), a, b in zip(small[0].nodes, before, after, strict=True):
        if b - a > slack:
            grown.append(f"{node.op} %{node.outputs[0].name} (+{b - a} bytes)")
    return grown
