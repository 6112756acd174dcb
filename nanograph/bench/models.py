"""The model side of a benchmark: load a MODEL, bind its dims, make inputs, count FLOPs.

The batch axis is the leading dim of the model's first input when that is a
plain symbol (``N`` in the zoo); ``--batch`` binds it, ``--dims`` binds every
other symbol (defaults: the model's example dims). The benchmarked graph has
every non-batch symbol bound by ``specialize`` and the batch symbol left
free, so each backend builds once and runs at every batch size, as PyTorch's
export with a dynamic batch axis does. A model whose leading dim is static
runs only at that batch size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from nanograph.frontend.spec import ModelSpec
from nanograph.frontend.trace import trace
from nanograph.ir.dims import format_dim
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import specialize
from nanograph.model_cost import graph_flops
from nanograph.model_loading import LoadedModel, load_model, zoo_models


@dataclass(frozen=True)
class BenchModel:
    """A loaded model ready to benchmark (see the module docstring).

    ``graph`` has the non-batch symbols bound by ``dims``; ``batch_symbol``
    is the free batch symbol (``None``: the batch is fixed at ``fixed_batch``).
    """

    ref: str
    loaded: LoadedModel
    graph: Graph
    dims: dict[str, int]
    batch_symbol: str | None
    fixed_batch: int | None

    @property
    def name(self) -> str:
        return self.loaded.name

    def bindings(self, batch: int) -> dict[str, int]:
        """Every symbol's size at ``batch``."""
        dims = dict(self.dims)
        if self.batch_symbol is not None:
            dims[self.batch_symbol] = batch
        return dims

    def feeds(self, batch: int, seed: int) -> dict[str, np.ndarray]:
        """Seeded inputs at ``batch`` (the same arrays in every worker for the same seed)."""
        return self.loaded.random_inputs(seed, self.bindings(batch))  # under the memory limit

    def flops(self, batch: int) -> int:
        """FLOPs of one call at ``batch``, counted from the IR (other symbols are bound already)."""
        free = {self.batch_symbol: batch} if self.batch_symbol is not None else {}
        return graph_flops(self.graph, free)

    def batch_inputs(self) -> list[str]:
        """Names of the inputs whose leading dim is the batch symbol."""
        return [
            s.name
            for s in self.loaded.spec
            if s.shape
            and self.batch_symbol is not None
            and format_dim(s.shape[0]) == self.batch_symbol
        ]

    def check_batches(self, batches: Sequence[int]) -> None:
        """``ConfigError`` if the model's batch is fixed and ``batches`` asks for another."""
        if self.batch_symbol is None and any(b != self.fixed_batch for b in batches):
            raise ConfigError(
                f"{self.ref}: the batch size is fixed at {self.fixed_batch} (its first input's "
                f"leading dim is static), so --batch {','.join(map(str, batches))} cannot apply",
                hint=f"use --batch {self.fixed_batch}",
            )


def load_bench_model(ref: str, dims: Mapping[str, int]) -> BenchModel:
    """Load MODEL ``ref``, bind those of ``dims`` it has (never its batch symbol), trace it."""
    loaded = load_model(ref)
    symbol, fixed = batch_axis(loaded.spec)
    if symbol is not None and symbol in dims:
        raise ConfigError(
            f"--dims binds {symbol}, the batch axis of {ref}",
            hint=f"use --batch for {symbol} (e.g. --batch 1,8)",
        )
    own = {k: v for k, v in dims.items() if k in loaded.spec.symbols()}
    bound = {k: v for k, v in loaded.spec.resolve_dims(own).items() if k != symbol}
    graph = loaded.graph if loaded.graph is not None else trace(loaded.module, loaded.spec)
    graph = specialize(graph, bound) if bound else graph
    return BenchModel(ref, loaded, graph, bound, symbol, fixed)


def batch_axis(spec: ModelSpec) -> tuple[str | None, int | None]:
    """``(symbol, None)`` if the first input leads with a plain symbol, else ``(None, size)``."""
    if not spec.inputs or not spec[0].shape:
        return None, 1
    leading = spec[0].shape[0]
    if isinstance(leading, int):
        return None, leading
    text = format_dim(leading)
    return (text, None) if text.isidentifier() else (None, 1)


def zoo_twin_module(ref: str) -> ModuleType | None:
    """The zoo module of MODEL ``ref`` if it is a zoo name with ``torch_model()``, else ``None``."""
    if ref.endswith((".py", ".onnx")) or "/" in ref:
        return None
    module = zoo_models().get(ref)
    return module if module is not None and callable(getattr(module, "torch_model", None)) else None
