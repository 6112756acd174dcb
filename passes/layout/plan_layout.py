"""``plan-layout``: run each region of convs and pools in NCHW or NHWC, whichever the
measured cost model says is faster (for the NumPy backends at O3; ONNX export keeps NCHW).

For each region (``regions``: convs, pools, batch norms and the elementwise
ops between them, connected), ``partition.choose_layouts`` finds the
assignment of NCHW/NHWC to its ops with the lowest estimated cost (conv times
measured in both layouts, plus the bytes of the transposes at the boundary
between layouts), and ``to_nhwc.switch_to_nhwc`` rewrites the ops it puts in
NHWC, with conv weights laid out as OHWI at compile time and one transpose
per value entering or leaving. The pass reports:

- per region that switched (all of it, or the part worth it), a ``Rewrite``
  with rule ``layout->nhwc``: the ops it switched -> the ops made (NHWC ops
  and boundary transposes);
- per region, or part of one, that stays NCHW, a near miss of the same rule
  anchored on its first conv (else its first layout op), ``matched`` = the
  region ops staying out of the region's total, whose reason starts ``stays
  NCHW:`` followed by the estimates that decided it;
- a conv that cannot switch whatever the cost (a weight computed at run
  time) as a near miss saying why;
- stats: ``layout->nhwc`` (regions switched), ``boundary transposes`` made,
  ``constants laid out for NHWC`` (OHWI weights, re-laid constant operands)
  and ``constants freed`` (their originals, where nothing else reads them).

The cost model is ``LayoutCostModel()`` (the measured table of
``measured_costs``) unless ``make_plan_layout(model)`` gives another.
"""

from __future__ import annotations

from collections.abc import Callable

from nanograph.ir.graph import Graph, Node
from nanograph.passes.layout.conv_geometry import CONV_OPS
from nanograph.passes.layout.cost_model import LayoutCostModel, add_costs
from nanograph.passes.layout.partition import (
    RegionPlan,
    choose_layouts,
    describe_costs,
)
from nanograph.passes.layout.regions import LAYOUT_OPS, find_regions
from nanograph.passes.layout.to_nhwc import NhwcConstants, switch_to_nhwc
from nanograph.passes.manager import Pass
from nanograph.passes.records import NearMiss, PassResult, Rewrite

RULE = "layout->nhwc"


def plan_layout(graph: Graph, model: LayoutCostModel | None = None) -> PassResult:
    """Switch regions of convs and pools to NHWC where the measured cost model says it pays."""
    model = model if model is not None else LayoutCostModel()
    result = PassResult()
    regions, stuck = find_regions(graph)
    constants = NhwcConstants(graph)
    for region in regions:
        plan = choose_layouts(graph, region, model)
        if plan.stays:
            result.near_misses.append(_stays(plan))
        if plan.nhwc:
            record = Rewrite.of(RULE, plan.nhwc)
            made = switch_to_nhwc(graph, plan.nhwc, constants)
            result.record(record.with_produced(made))
            result.count("boundary transposes", sum(n.op == "transpose" for n in made))
    result.count("constants laid out for NHWC", len(constants.made))
    result.count("constants freed", constants.free_unused())
    for s in stuck:
        result.near_misses.append(_miss(s.node, 1, 1, f"stays NCHW: {s.reason}"))
    return result


def _stays(plan: RegionPlan) -> NearMiss:
    stays = plan.stays
    anchor = next((n for n in stays if n.op in CONV_OPS), None) or next(
        (n for n in stays if n.op in LAYOUT_OPS), stays[0]
    )
    return _miss(anchor, len(stays), len(plan.region.nodes), f"stays NCHW: {_why(plan)}")


def _why(plan: RegionPlan) -> str:
    if plan.unknown:
        return plan.unknown
    assert plan.all_nchw is not None and plan.all_nhwc is not None and plan.chosen is not None
    b = plan.batches
    if not plan.nhwc:
        nhwc = plan.all_nhwc
        return (
            f"estimated {describe_costs(plan.all_nchw.total, b)} in NCHW against "
            f"{describe_costs(nhwc.total, b)} in NHWC (of which {nhwc.count} transposes: "
            f"{describe_costs(nhwc.transposes, b)})"
        )
    stay_convs = [plan.convs[id(n)] for n in plan.stays if id(n) in plan.convs]
    zero = tuple(0.0 for _ in b)
    in_nchw = add_costs(zero, *(e.nchw for e in stay_convs))
    in_nhwc = add_costs(zero, *(e.nhwc for e in stay_convs))
    convs = (
        f"these convs take {describe_costs(in_nchw, b)} in NCHW against "
        f"{describe_costs(in_nhwc, b)} in NHWC; "
        if stay_convs
        else ""
    )
    return (
        f"the rest of its region goes NHWC; {convs}the region as chosen: "
        f"{describe_costs(plan.chosen.total, b)} with {plan.chosen.count} transposes "
        f"(all NCHW: {describe_costs(plan.all_nchw.total, b)}; all NHWC: "
        f"{describe_costs(plan.all_nhwc.total, b)})"
    )


def _miss(anchor: Node, matched: int, total: int, reason: str) -> NearMiss:
    return NearMiss(
        rule=RULE,
        anchor=anchor.outputs[0].name,
        anchor_op=anchor.op,
        location=anchor.loc,
        matched=matched,
        total=total,
        reason=reason,
    )


def make_plan_layout(model: LayoutCostModel) -> Pass:
    """``plan-layout`` with its own cost model (tests, experiments)."""
    run: Callable[[Graph], PassResult] = lambda graph: plan_layout(graph, model)  # noqa: E731
    run.__doc__ = plan_layout.__doc__
    return Pass("plan-layout", run)


PLAN_LAYOUT = Pass("plan-layout", plan_layout)

__all__ = ["PLAN_LAYOUT", "RULE", "make_plan_layout", "plan_layout"]
