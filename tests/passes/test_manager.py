"""The pass manager: per-pass records, IR capture, verify_each, errors naming the pass, and
the report's JSON form."""

from __future__ import annotations

import json

import pytest

from nanograph.ir.errors import ConfigError, InternalError, ShapeError
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.types import TensorType
from nanograph.ir.verify import verify
from nanograph.passes.canonicalize.dead_code import DEAD_CODE
from nanograph.passes.manager import Pass, PipelineReport, run_pipeline
from nanograph.passes.pattern import op, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Rule, apply_rules

TEXT = """\
graph g(%x: f32[4]) -> (f32[4]) {
  %a = neg(%x) : f32[4]  # m.py:1
  %b = neg(%a) : f32[4]  # m.py:2
  %dead = exp(%x) : f32[4]  # m.py:3
  %c = relu(%b) : f32[4]  # m.py:4
  return %c
}
"""
NEG_NEG = Rule("neg(neg(x))->x", op.neg(op.neg(var("x"))), lambda m, em: [m["x"]])
NEVER = Rule("relu(exp)", op.relu(op.exp(var("x"))), lambda m, em: [m["x"]], min_near_miss=1)


def fold_negations(graph: Graph) -> PassResult:
    """Remove double negations; near misses of relu(exp(x))."""
    return apply_rules(graph, [NEG_NEG, NEVER])


def do_nothing(graph: Graph) -> PassResult:
    return PassResult()


FOLD = Pass("fold-negations", fold_negations)
NOTHING = Pass("nothing", do_nothing)


def pipeline(*passes: Pass, **options: object) -> tuple[Graph, PipelineReport]:
    graph = parse_graph(TEXT)
    report = run_pipeline(graph, passes, **options)  # type: ignore[arg-type]
    verify(graph)
    return graph, report


# records -----------------------------------------------------------------------------------
def test_each_pass_has_a_record_with_time_node_counts_and_its_result() -> None:
    graph, report = pipeline(FOLD, DEAD_CODE, NOTHING)
    assert [r.name for r in report.records] == ["fold-negations", "dce", "nothing"]
    fold, dce, nothing = report.records
    assert (fold.nodes_before, fold.nodes_after) == (4, 2)  # two negs gone
    assert (dce.nodes_before, dce.nodes_after) == (2, 1)  # then the dead exp
    assert (nothing.nodes_before, nothing.nodes_after) == (1, 1)
    assert all(r.seconds >= 0 for r in report.records)
    assert report.seconds == pytest.approx(sum(r.seconds for r in report.records))
    assert dce.result.stats["dead nodes"] == 1 and dce.result.changed
    assert not nothing.result.changed
    assert report.record("dce") is dce
    assert report.ir_before is None and all(r.ir_after is None for r in report.records)
    assert not report.verified_each
    assert print_graph(graph).splitlines()[1:3] == [
        "  %c = relu(%x) : f32[4]  # m.py:4",
        "  return %c",
    ]


def test_record_of_a_pass_that_did_not_run_lists_those_that_did() -> None:
    _, report = pipeline(FOLD, DEAD_CODE)
    with pytest.raises(KeyError, match="no pass 'cse' ran; ran: fold-negations, dce"):
        report.record("cse")


def test_rewrites_and_near_misses_are_collected_over_the_pipeline() -> None:
    _, report = pipeline(FOLD, DEAD_CODE, FOLD)
    assert report.rewrite_counts() == {"neg(neg(x))->x": 1}
    assert [str(r) for r in report.rewrites] == [
        "neg(neg(x))->x: neg %b + neg %a -> nothing (removed) at m.py:2, m.py:1"
    ]
    # relu is tried again after the negations go, so its near miss describes the final graph
    miss = (
        "relu(exp) at relu %c (m.py:4): matched 1/2 ops, then %x is a graph input, "
        "not the output of exp"
    )
    assert [str(m) for m in report.near_misses] == [miss, miss]  # one per run of the pass


def test_a_pass_summary_is_the_first_line_of_its_docstring() -> None:
    assert FOLD.summary == "Remove double negations; near misses of relu(exp(x))."
    assert NOTHING.summary == ""

    def blank(graph: Graph) -> PassResult:
        """ """
        return PassResult()

    assert Pass("blank", blank).summary == ""


# capture -----------------------------------------------------------------------------------
def test_capture_keeps_the_ir_before_and_after_the_named_passes() -> None:
    graph, report = pipeline(FOLD, DEAD_CODE, capture=("input", "dce"))
    assert report.ir_before == TEXT
    fold, dce = report.records
    assert fold.ir_after is None
    assert dce.ir_after == print_graph(graph)
    assert "%dead" not in dce.ir_after


def test_capture_all_keeps_the_input_and_the_ir_after_every_pass() -> None:
    for capture in (("all",), "all"):  # one name may be a plain string
        _, report = pipeline(FOLD, DEAD_CODE, capture=capture)
        assert report.ir_before == TEXT
        fold, dce = report.records
        assert fold.ir_after is not None and "neg" not in fold.ir_after
        assert "%dead = exp" in fold.ir_after
        assert dce.ir_after is not None and "%dead" not in dce.ir_after


def test_capture_of_a_pass_not_in_the_pipeline_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="capture names no pass of this pipeline: dec") as info:
        pipeline(FOLD, DEAD_CODE, capture=("dec",))
    assert "fold-negations, dce" in str(info.value)


# verify_each and errors ---------------------------------------------------------------------
def break_types(graph: Graph) -> PassResult:
    """Insert a relu whose declared type is not its inferred one."""
    x = graph.inputs[0]
    bad = graph.create_node("relu", [x], types=[TensorType.of("f32", (3,))], loc="bad.py:9")
    graph.insert_before(next(iter(graph.nodes)), bad)
    return PassResult(changed=True)


def test_verify_each_names_the_pass_that_broke_the_graph() -> None:
    broken = Pass("break-types", break_types)
    with pytest.raises(InternalError) as info:
        pipeline(FOLD, broken, DEAD_CODE, verify_each=True)
    err = info.value
    assert err.message.startswith("pass break-types left a broken graph: ")
    assert "f32[3]" in err.message and err.loc == "bad.py:9"
    assert "bug in the pass" in err.hint
    # without verify_each the broken graph goes on unnoticed
    graph = parse_graph(TEXT)
    report = run_pipeline(graph, [broken])
    assert not report.verified_each and len(graph.nodes) == 5


def test_verify_each_records_that_it_verified() -> None:
    _, report = pipeline(FOLD, DEAD_CODE, verify_each=True)
    assert report.verified_each


def test_a_crashing_pass_is_an_internal_error_naming_it() -> None:
    def crash(graph: Graph) -> PassResult:
        raise KeyError("missing")

    with pytest.raises(InternalError, match="pass crash crashed: KeyError: 'missing'") as info:
        pipeline(Pass("crash", crash))
    assert isinstance(info.value.__cause__, KeyError)


def test_a_pass_returning_something_else_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="pass none returned NoneType, not a PassResult"):
        pipeline(Pass("none", lambda graph: None))  # type: ignore[arg-type,return-value]


def test_nanograph_errors_from_a_pass_pass_through() -> None:
    def refuse(graph: Graph) -> PassResult:
        raise ShapeError("no", loc="m.py:1")

    with pytest.raises(ShapeError, match="no"):
        pipeline(Pass("refuse", refuse))


# the report as data --------------------------------------------------------------------------
def test_to_dict_is_json_and_holds_every_record() -> None:
    _, report = pipeline(FOLD, DEAD_CODE, capture=("input", "dce"), verify_each=True)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["verified_each"] is True
    assert data["ir_before"] == TEXT
    assert data["rewrite_counts"] == {"neg(neg(x))->x": 1}
    assert data["seconds"] == pytest.approx(report.seconds)
    fold, dce = data["passes"]
    assert (fold["name"], fold["nodes_before"], fold["nodes_after"]) == ("fold-negations", 4, 2)
    assert fold["changed"] is True and fold["stats"] == {"neg(neg(x))->x": 1}
    assert fold["ir_after"] is None and dce["ir_after"] == report.records[1].ir_after
    assert fold["rewrites"] == [
        {
            "rule": "neg(neg(x))->x",
            "anchor": "b",
            "matched": ["neg %b", "neg %a"],
            "locations": ["m.py:2", "m.py:1"],
            "produced": [],
        }
    ]
    assert fold["near_misses"] == [
        {
            "rule": "relu(exp)",
            "anchor": "c",
            "anchor_op": "relu",
            "location": "m.py:4",
            "matched": 1,
            "total": 2,
            "reason": "%x is a graph input, not the output of exp",
        }
    ]
    assert dce["stats"] == {"dead nodes": 1}


def test_an_empty_pipeline_reports_nothing() -> None:
    graph, report = pipeline()
    assert report == PipelineReport(verified_each=False)
    assert report.rewrite_counts() == {} and report.seconds == 0
    assert print_graph(graph) == TEXT
