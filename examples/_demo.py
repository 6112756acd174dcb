"""What every zoo file does when run as a script: build, trace, print the IR size, run once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nanograph.backends.reference import run_reference
from nanograph.frontend.spec import ModelSpec
from nanograph.frontend.trace import trace
from nanograph.ir.text import print_graph


def demo(build: Callable[[], tuple[Any, ModelSpec]]) -> None:
    """Build the model, trace it, print its size and its outputs on seeded random inputs."""
    model, spec = build()
    graph = trace(model, spec)
    text = print_graph(graph)
    print(f"{graph.name}: {model.num_parameters():,} parameters, {len(graph.nodes)} nodes")
    print(f"IR text: {len(text.splitlines())} lines, {len(text):,} characters")
    dims = spec.resolve_dims()
    feeds = spec.random_inputs(seed=0, dims=dims)
    start = time.perf_counter()
    outputs = run_reference(graph, feeds)
    elapsed = time.perf_counter() - start
    bound = ", ".join(f"{k}={v}" for k, v in dims.items())
    print(f"ran once at {bound} in {elapsed * 1e3:.1f} ms (reference interpreter)")
    for name, array in outputs.items():
        print(f"  {name}: {array.dtype}{list(array.shape)}, mean {array.mean():+.4f}")
