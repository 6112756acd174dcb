"""Which ops form layout regions, and which layout ops cannot switch."""

from __future__ import annotations

from nanograph.ir.text import parse_graph
from nanograph.passes.layout.regions import find_regions

HEADER = "graph g(%x: f32[N,2,4,4], %y: f32[4,4], %w: f32[2,2,1,1]) -> (f32[N,2,4,4]) {\n"
WEIGHTS = "  @w1: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]\n"


def regions_of(body: str, out: str) -> tuple[list[list[str]], list[str]]:
    graph = parse_graph(f"{HEADER}{WEIGHTS}{body}  return %{out}\n}}\n")
    regions, stuck = find_regions(graph)
    return [[v.outputs[0].name for v in r.nodes] for r in regions], [
        s.node.outputs[0].name for s in stuck
    ]


def test_two_conv_chains_joined_by_an_add_are_one_region() -> None:
    body = (
        "  %a = conv2d(%x, @w1) : f32[N,2,4,4]\n"
        "  %b = conv2d(%x, @w1) : f32[N,2,4,4]\n"
        "  %s = add(%a, %b) : f32[N,2,4,4]\n"
        "  %r = sigmoid(%s) : f32[N,2,4,4]\n"
    )
    assert regions_of(body, "r") == ([["a", "b", "s", "r"]], [])


def test_elementwise_ops_without_a_layout_op_are_no_region() -> None:
    body = "  %a = relu(%x) : f32[N,2,4,4]\n  %b = add(%a, %x) : f32[N,2,4,4]\n"
    assert regions_of(body, "b") == ([], [])


def test_an_op_with_a_runtime_operand_of_lower_rank_ends_the_region() -> None:
    body = (
        "  %a = conv2d(%x, @w1) : f32[N,2,4,4]\n"
        "  %b = add(%a, %y) : f32[N,2,4,4]\n"
        "  %c = conv2d(%b, @w1) : f32[N,2,4,4]\n"
    )
    assert regions_of(body, "c") == ([["a"], ["c"]], [])


def test_a_conv_with_a_runtime_weight_is_no_member_and_is_reported() -> None:
    body = "  %a = conv2d(%x, %w) : f32[N,2,4,4]\n  %b = relu(%a) : f32[N,2,4,4]\n"
    assert regions_of(body, "b") == ([], ["a"])


def test_a_conv_already_in_nhwc_and_a_rank_2_batch_norm_are_no_members() -> None:
    graph = parse_graph(
        "graph g(%x: f32[N,4,4,2], %v: f32[N,2]) -> (f32[N,4,4,2], f32[N,2]) {\n"
        "  @w: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]\n"
        "  @p: f32[2] = [1.0, 1.0]\n"
        '  %a = conv2d(%x, @w) {layout="NHWC"} : f32[N,4,4,2]\n'
        "  %b = batch_norm(%v, @p, @p, @p, @p) : f32[N,2]\n"
        "  return %a, %b\n}\n"
    )
    assert find_regions(graph) == ([], [])


def test_region_values_are_what_its_ops_read_and_write_in_layout() -> None:
    graph = parse_graph(
        f"{HEADER}{WEIGHTS}"
        "  @s: f32[2,1,1] = [[[2.0]], [[3.0]]]\n"
        "  %a = conv2d(%x, @w1) : f32[N,2,4,4]\n"
        "  %b = mul(%a, @s) : f32[N,2,4,4]\n"
        "  return %b\n}\n"
    )
    (region,), _ = find_regions(graph)
    assert [v.name for v in region.values] == ["x", "a", "b"]
    assert region.anchor.outputs[0].name == "a"
