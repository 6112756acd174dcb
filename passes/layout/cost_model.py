"""The layout cost model: estimated time of a conv in NCHW and NHWC, and of a boundary transpose.

Everything comes from measurements (``measured_costs``, made by
``benchmarks/layout_costs.py`` on the executor's kernels or their stand-ins):

- a conv whose geometry was measured costs what was measured;
- any other conv costs what the measured conv nearest to it costs per
  multiply-accumulate, times its own MACs, in each layout: "nearest" is the
  same window, strides and grouping (``kernel_class``: what picks the
  algorithm), at the same batch if measured, and closest in MACs on a log
  scale; with no measured conv of its class, the nearest of any class;
- an NCHW <-> NHWC transpose costs ``fixed + per_kib * KiB`` (a least-squares
  fit over copies of the zoo's conv inputs), or only ``fixed`` when it moves
  nothing (one channel, or one pixel: the same bytes in the same order, a
  reshape the executor may run as a view).

Ops that are not convs (pools, batch norm, elementwise ops) are taken to cost
the same in both layouts: they stream memory once either way.

Costs are per batch size. A graph whose batch is symbolic is estimated at
each measured batch size (``batches``); ``weight`` folds such a tuple into
the one number the planner minimises: microseconds per sample, summed over
the batch sizes (so batch 1, where fixed costs weigh most, and a large batch,
where throughput does, both count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nanograph.ir.dims import Dim, symbols_of
from nanograph.ir.graph import Node
from nanograph.ir.types import TensorType
from nanograph.passes.layout import measured_costs
from nanograph.passes.layout.conv_geometry import ConvGeometry, conv_geometry

Costs = tuple[float, ...]
"""Microseconds at each of a model's ``batches``, in order."""


@dataclass(frozen=True)
class ConvEstimate:
    """A conv's estimated microseconds in NCHW and NHWC at each batch, and where they came
    from (``"measured"`` or ``"scaled from <geometry>"``, at the first batch)."""

    nchw: Costs
    nhwc: Costs
    source: str


@dataclass(frozen=True)
class LayoutCostModel:
    """Conv and transpose costs from a measured table (see the module docstring)."""

    conv_us: Mapping[ConvGeometry, tuple[float, float]] = field(
        default_factory=lambda: dict(measured_costs.CONV_US)
    )
    transpose_fixed_us: float = measured_costs.TRANSPOSE_US_FIXED
    transpose_us_per_kib: float = measured_costs.TRANSPOSE_US_PER_KIB
    batches: tuple[int, ...] = measured_costs.BATCHES

    def batches_for(self, batch: Dim) -> tuple[int, ...]:
        """The batch sizes to estimate at: ``batch`` itself if static, else ``batches``."""
        return (batch,) if isinstance(batch, int) else self.batches

    def conv(self, node: Node, batches: Sequence[int]) -> ConvEstimate | None:
        """``node``'s estimate at ``batches``; None if it has symbolic dims other than the
        batch or nothing was measured."""
        nchw, nhwc, sources = [], [], []
        for b in batches:
            geo = conv_geometry(node, batch=b)
            found = None if geo is None else self._conv_at(geo)
            if found is None:
                return None
            nchw.append(found[0])
            nhwc.append(found[1])
            sources.append(found[2])
        return ConvEstimate(tuple(nchw), tuple(nhwc), sources[0])

    def _conv_at(self, geo: ConvGeometry) -> tuple[float, float, str] | None:
        if geo in self.conv_us:
            nchw, nhwc = self.conv_us[geo]
            return nchw, nhwc, "measured"
        near = self.nearest(geo)
        if near is None:
            return None
        scale = geo.macs / max(near.macs, 1)
        nchw, nhwc = self.conv_us[near]
        return nchw * scale, nhwc * scale, f"scaled from {near}"

    def nearest(self, geo: ConvGeometry) -> ConvGeometry | None:
        """The measured geometry whose per-MAC cost stands in for ``geo``'s."""
        pools = (
            [
                g
                for g in self.conv_us
                if g.kernel_class == geo.kernel_class and g.batch == geo.batch
            ],
            [g for g in self.conv_us if g.kernel_class == geo.kernel_class],
            list(self.conv_us),
        )
        pool = next((p for p in pools if p), [])
        if not pool:
            return None
        target = math.log(max(geo.macs, 1))
        return min(pool, key=lambda g: (abs(math.log(max(g.macs, 1)) - target), g))

    def transpose(self, value_type: TensorType, batches: Sequence[int]) -> Costs | None:
        """One NCHW <-> NHWC copy of a value of ``value_type`` at each batch (its leading
        dim bound to the batch); None if another dim is symbolic."""
        costs = []
        for b in batches:
            bound = bind_batch(value_type, b)
            if bound is None:
                return None
            nbytes = bound.nbytes
            assert isinstance(nbytes, int)  # bind_batch returns static types only
            kib = nbytes / 1024 if _reorders(bound) else 0.0
            costs.append(self.transpose_fixed_us + self.transpose_us_per_kib * kib)
        return tuple(costs)

    def weight(self, costs: Costs, batches: Sequence[int]) -> float:
        """The number the planner minimises: microseconds per sample, summed over batches."""
        return sum(c / b for c, b in zip(costs, batches, strict=True))


def _reorders(value_type: TensorType) -> bool:
    """Whether an NCHW <-> NHWC transpose of a rank-4 type moves any element: not with one
    channel or one pixel (a symbolic dim counts as more than one)."""
    if value_type.rank != 4:
        return True
    _, c, h, w = (d if isinstance(d, int) else 2 for d in value_type.shape)
    return c > 1 and h * w > 1


def bind_batch(value_type: TensorType, batch: int) -> TensorType | None:
    """``value_type`` with the symbols of its leading dim bound to ``batch``; None if any
    dim is still symbolic then."""
    if not value_type.shape:
        return value_type
    bound = value_type.substitute({s: batch for s in symbols_of(value_type.shape[:1])})
    return bound if bound.is_static else None


def add_costs(*parts: Costs) -> Costs:
    """Elementwise sum of cost tuples of the same batches."""
    return tuple(sum(p) for p in zip(*parts, strict=True))


__all__ = ["ConvEstimate", "Costs", "LayoutCostModel", "add_costs", "bind_batch"]
