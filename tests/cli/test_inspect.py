"""``nanograph inspect``: the terminal report, --print-after, --verify-each, --dot, --html, --json.

Most tests run O2 as the test-only pipeline ``dce, fuse_linear, dce``
(``tests/cli/inspect_fixtures.py``) on the ``heads`` model, whose expected
rewrite and near misses are written out here by hand; others run the real
O2 pipeline and check only its structure (a row per pass), since the real
fusions are still being written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nanograph.inspection.ir_diff import DiffLine, ir_diff
from nanograph.inspection.summary import summarize_graph
from nanograph.ir.graph import Graph, Node
from nanograph.ir.text import parse_graph
from nanograph.model_cost import graph_flops
from nanograph.model_loading import load_model
from nanograph.passes.canonicalize.dead_code import DEAD_CODE
from nanograph.passes.manager import Pass
from nanograph.passes.pipelines import PIPELINES
from nanograph.passes.records import PassResult
from nanograph.zoo import MODELS
from tests.cli.cli_run import run_cli
from tests.cli.inspect_fixtures import parse_page, use_test_pipeline, write_model

Capsys = pytest.CaptureFixture[str]
ONNX_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes its tables to ``COLUMNS``: wide enough that no cell wraps."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def heads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The heads model, with O2 running the test pipeline."""
    use_test_pipeline(monkeypatch)
    return write_model(tmp_path)


# the terminal report ---------------------------------------------------------------------
def test_pass_table_rewrites_near_misses_and_summary(capsys: Capsys, heads: Path) -> None:
    code, out, err = run_cli(capsys, "inspect", str(heads))
    assert code == 0, err
    assert out.startswith("heads at O2: 3 passes, 13 -> 12 nodes")
    assert re.search(r"│ 1 │ dce +│ +[\d.]+ ms │ 13 -> 13 │ - +│", out)
    assert re.search(r"│ 2 │ fuse_linear │ +[\d.]+ ms │ 13 -> 12 │ matmul\+add->linear x1 +│", out)
    assert re.search(r"│ 3 │ dce +│ +[\d.]+ ms │ 12 -> 12 │ - +│", out)
    expected_rewrite = (
        "rewrites (1)\n"
        "  fuse_linear  matmul+add->linear: add %fc + matmul %fc.matmul -> linear %fc\n"
        "      at heads.py:15\n"
    )
    assert expected_rewrite in out
    expected_misses = (
        "near misses (3): rules that began to match, and why they stopped\n"
        "  fuse_linear  matmul+add->linear at add %add (heads.py:16): matched 2/2\n"
        "      why: %b is not a constant\n"
        "  fuse_linear  matmul+add->linear at add %add_1 (heads.py:18): matched 2/2\n"
        "      why: %shared (matmul) is also used elsewhere (2 uses), "
        "so fusing it would compute it twice\n"
        "  fuse_linear  matmul+add->linear at add %add_2 (heads.py:19): matched 2/2\n"
        "      why: the bias @scalar_1 is f32[], not a vector of output features\n"
    )
    assert expected_misses in out
    assert "graph before and after the passes (at N=2)" in out
    assert re.search(r"│ nodes +│ +13 │ +12 │", out)
    assert re.search(r"│ fused nodes +│ +0 │ +1 │", out)
    assert re.search(r"│ linear \* +│ +0 │ +1 │", out)
    assert re.search(r"│ matmul +│ +4 │ +3 │", out)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_real_o2_pipeline_has_a_row_per_pass(capsys: Capsys, model: str) -> None:
    code, out, err = run_cli(capsys, "inspect", model, "--level", "O2")
    assert code == 0, err
    passes = [p.name for p in PIPELINES["O2"]]
    rows = re.findall(r"^│ +(\d+) │ (\S+) +│ +[\d.]+ ms │ +(\d+) -> (\d+) │", out, re.M)
    assert [(int(i), name) for i, name, _, _ in rows] == list(enumerate(passes, 1))
    traced = len(load_model(model).trace().nodes)
    assert int(rows[0][2]) == traced  # the first pass sees the traced graph
    assert all(int(rows[i][3]) == int(rows[i + 1][2]) for i in range(len(rows) - 1))
    assert out.startswith(f"{model} at O2: ")
    assert "near misses (" in out and "nodes per op" in out


def test_onnx_model(capsys: Capsys) -> None:
    code, out, err = run_cli(capsys, "inspect", str(ONNX_FIXTURES / "cnn_bn_classic.onnx"))
    assert code == 0, err
    assert out.startswith("cnn_bn_classic at O2: ")
    assert "│ batch_norm " in out  # an op of the imported model, in the per-op table


def test_level_without_passes(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--level", "O0")
    assert code == 0
    assert out.startswith("heads at O0: 0 passes, 13 -> 13 nodes")
    assert "(level O0 runs no passes)" in out


def test_model_strings_are_not_rich_markup(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_pipeline(monkeypatch)
    path = write_model(tmp_path, "[bold]x[red].py")
    code, out, _ = run_cli(capsys, "inspect", str(path))
    assert code == 0
    assert out.startswith("[bold]x[red] at O2")
    assert "at [bold]x[red].py:15" in out


# --print-after and --verify-each ---------------------------------------------------------
def test_print_after_one_pass(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--print-after", "fuse_linear")
    assert code == 0
    assert out.count("// IR after pass") == 1
    header = "// IR after pass 2/3 fuse_linear (13 -> 12 nodes)\n"
    assert out.startswith(header)
    text = out[len(header) : out.index("}\n") + 2]
    graph = parse_graph(text)  # it is IR text, whole
    assert [n.op for n in graph.nodes].count("linear") == 1
    assert "  %fc = linear(%x, %fc.transpose, @fc.bias) : f32[N,4]  # heads.py:15\n" in text


def test_print_after_a_pass_that_runs_twice(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--print-after", "dce")
    assert code == 0
    headers = re.findall(r"^// IR after pass .*$", out, re.M)
    assert headers == [
        "// IR after pass 1/3 dce (13 -> 13 nodes)",
        "// IR after pass 3/3 dce (12 -> 12 nodes)",
    ]


def test_print_after_all(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--print-after-all")
    assert code == 0
    assert re.findall(r"^// IR after pass (\d)/3 (\w+)", out, re.M) == [
        ("1", "dce"),
        ("2", "fuse_linear"),
        ("3", "dce"),
    ]


def test_unknown_pass_name_lists_the_level_passes(capsys: Capsys, heads: Path) -> None:
    code, out, err = run_cli(capsys, "inspect", str(heads), "--print-after", "fuse_linaer")
    assert code == 2 and out == ""
    assert err.startswith(
        "error: --print-after fuse_linaer: level O2 runs no pass named 'fuse_linaer' "
        "(did you mean fuse_linear?)"
    )
    assert "the passes of O2, in order: dce, fuse_linear" in err


def test_print_after_at_a_level_without_passes(capsys: Capsys, heads: Path) -> None:
    code, _, err = run_cli(capsys, "inspect", str(heads), "--level", "O0", "--print-after", "dce")
    assert code == 2
    assert "level O0 runs no passes" in err and "--level O2" in err


def test_unknown_level(capsys: Capsys, heads: Path) -> None:
    code, _, err = run_cli(capsys, "inspect", str(heads), "--level", "O9")
    assert code == 2 and "unknown level 'O9'" in err and "O2" in err


def _retype_first_node(graph: Graph) -> PassResult:
    """Break the graph: feed the first node a value of another shape (a test-only bug)."""
    first: Node = next(iter(graph.nodes))
    graph.set_input(first, 0, graph.inputs[0])
    return PassResult(changed=True)


def test_verify_each_names_the_pass_that_broke_the_graph(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_model(tmp_path)
    monkeypatch.setitem(PIPELINES, "O2", (DEAD_CODE, Pass("retype", _retype_first_node)))
    code, _, _ = run_cli(capsys, "inspect", str(path))
    assert code == 0  # unverified, the broken graph goes unnoticed
    code, out, err = run_cli(capsys, "inspect", str(path), "--verify-each")
    assert code == 2 and out == ""
    assert err.startswith("error: pass retype left a broken graph: %fc.transpose (transpose)")
    assert "at heads.py:15" in err


def test_verify_each_says_so(capsys: Capsys, heads: Path) -> None:
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--verify-each")
    assert code == 0
    assert out.splitlines()[0].endswith("; IR verified after each pass")


# --dot -------------------------------------------------------------------------------------
def dot_statements(text: str) -> list[str]:
    """The statements of a DOT digraph, checking quotes, brackets and braces balance."""
    depth, brackets, quoted, escaped = 0, 0, False, False
    statements, current = [], ""
    for ch in text:
        if quoted:
            quoted = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
            current += ch
            continue
        if ch == '"':
            quoted = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            assert depth >= 0, "a } closes nothing"
        elif ch in "[]":
            brackets += 1 if ch == "[" else -1
            assert brackets in (0, 1), "unbalanced [ ]"
        if ch in ";{}" and brackets == 0:
            statements.append(current.strip())
            current = ""
        else:
            current += ch
    assert not quoted and depth == 0 and brackets == 0 and not current.strip()
    return [s for s in statements if s]


def test_dot_marks_fused_nodes(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "heads.dot"
    code, out, _ = run_cli(capsys, "inspect", str(heads), "--dot", str(out_path))
    assert code == 0 and f"wrote {out_path} (dot)" in out
    text = out_path.read_text()
    assert text.startswith('digraph "heads" {\n')
    statements = dot_statements(text)
    nodes = {m[1]: m[2] for s in statements if (m := re.match(r"(n\d+) \[(.*)\]$", s))}
    assert len(nodes) == 12  # one per node of the final graph
    fused = [attrs for attrs in nodes.values() if 'class="fused"' in attrs]
    assert len(fused) == 1
    assert fused[0].startswith('label="linear %fc\\n1 constant\\nheads.py:15"')
    assert 'style="rounded,filled,bold"' in fused[0] and 'penwidth="2"' in fused[0]
    assert all("filled" not in attrs for attrs in nodes.values() if attrs not in fused)
    declared = {s.split(" ", 1)[0] for s in statements}
    edges = [re.match(r"(\w+) -> (\w+) \[", s) for s in statements if " -> " in s]
    assert edges and all(e and e[1] in declared and e[2] in declared for e in edges)
    assert {"in0", "in1", "out0", "out3"} <= declared


def test_dot_escapes_names(capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_pipeline(monkeypatch)
    path = write_model(tmp_path, 'we"ird\\name.py')
    out_path = tmp_path / "weird.dot"
    code, _, _ = run_cli(capsys, "inspect", str(path), "--dot", str(out_path))
    assert code == 0
    text = out_path.read_text()
    assert text.startswith('digraph "we\\"ird\\\\name" {')
    dot_statements(text)  # the quotes stay balanced


# --html ------------------------------------------------------------------------------------
def test_html_page_structure(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "heads.html"
    code, _, _ = run_cli(capsys, "inspect", str(heads), "--html", str(out_path))
    assert code == 0
    text = out_path.read_text()
    page = parse_page(text)
    assert text.startswith("<!DOCTYPE html>")
    sections = page.by_class("pass")
    assert [a["id"] for a, _ in sections] == ["pass-dce", "pass-fuse-linear", "pass-dce-2"]
    assert [a["data-changed"] for a, _ in sections] == ["false", "true", "false"]
    assert len(page.by_class("pass-row")) == 3
    (rewrite,) = page.by_class("rewrite")
    assert rewrite[0]["data-rule"] == "matmul+add->linear"
    assert rewrite[1] == (
        "matmul+add->linear: add %fc + matmul %fc.matmul → linear %fc at heads.py:15"
    )
    misses = page.by_class("near-miss")
    assert [(a["data-matched"], a["data-total"]) for a, _ in misses] == [("2", "2")] * 3
    assert misses[0][1] == (
        "matmul+add->linear at add %add (heads.py:16): matched 2/2 ops, then %b is not a constant"
    )
    (diff,) = page.by_class("diff")
    assert (diff[0]["data-removed"], diff[0]["data-added"]) == ("2", "1")
    removed = [t for _, t in page.by_class("removed")]
    added = [t for _, t in page.by_class("added")]
    assert removed == [
        "10-  %fc.matmul = matmul(%x, %fc.transpose) : f32[N,4]  # heads.py:15",
        "11-  %fc = add(%fc.matmul, @fc.bias) : f32[N,4]  # heads.py:15",
    ]
    assert added == ["10+  %fc = linear(%x, %fc.transpose, @fc.bias) : f32[N,4]  # heads.py:15"]
    assert len(page.by_class("no-change")) == 2  # both dce runs
    fused_rows = page.by_class("fused")
    assert [a["data-op"] for a, _ in fused_rows] == ["linear"]
    assert "nodes1312" in page.by_id("summary")[1].replace(" ", "")
    assert page.by_id("toc")[1] == ""  # filled by the script (see the browser test)


def test_html_is_self_contained(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "heads.html"
    run_cli(capsys, "inspect", str(heads), "--html", str(out_path))
    text = out_path.read_text()
    page = parse_page(text)
    assert not re.search(r"https?://|//[a-z]", text, re.I)
    assert not page.tags & {"link", "img", "iframe", "object", "embed"}
    assert all("src" not in attrs for _, attrs, _ in page.elements)
    hrefs = [attrs["href"] for _, attrs, _ in page.elements if "href" in attrs]
    assert hrefs and all((h or "").startswith("#pass-") for h in hrefs)
    (csp,) = [a for t, a, _ in page.elements if a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in (csp["content"] or "")


def test_html_escapes_model_strings(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_pipeline(monkeypatch)
    path = write_model(tmp_path, 'ev<b>&"il.py')
    out_path = tmp_path / "evil.html"
    code, _, _ = run_cli(capsys, "inspect", str(path), "--html", str(out_path))
    assert code == 0
    text = out_path.read_text()
    assert "<b>" not in text and "ev<b" not in text
    assert "ev&lt;b&gt;&amp;&quot;il.py:15" in text
    page = parse_page(text)
    assert "b" not in page.tags
    assert page.by_class("rewrite")[0][1].endswith('at ev<b>&"il.py:15')


# --json ------------------------------------------------------------------------------------
def test_json_report(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "heads.json"
    code, _, _ = run_cli(capsys, "inspect", str(heads), "--json", str(out_path))
    assert code == 0
    data = json.loads(out_path.read_text())
    assert (data["model"], data["level"], data["dims"]) == ("heads", "O2", {"N": 2})
    assert [p["name"] for p in data["passes"]] == ["dce", "fuse_linear", "dce"]
    fuse = data["passes"][1]
    assert (fuse["nodes_before"], fuse["nodes_after"]) == (13, 12)
    assert fuse["rewrites"][0]["rule"] == "matmul+add->linear"
    assert fuse["rewrites"][0]["locations"] == ["heads.py:15"]
    assert [m["anchor"] for m in fuse["near_misses"]] == ["add", "add_1", "add_2"]
    assert data["summary"]["final"]["op_counts"]["linear"] == 1
    assert data["summary"]["input"]["nodes"] == 13


# errors and output files -------------------------------------------------------------------
def test_unknown_model(capsys: Capsys, tmp_path: Path) -> None:
    out_path = tmp_path / "x.html"
    code, out, err = run_cli(capsys, "inspect", "lenett", "--html", str(out_path))
    assert code == 2 and out == ""
    assert err.startswith("error: unknown model 'lenett' (did you mean lenet?)")
    assert not out_path.exists()


def test_unwritable_output_leaves_no_file(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    dot = tmp_path / "heads.dot"
    dot.write_text("old\n")
    missing = tmp_path / "no such folder" / "heads.html"
    code, out, err = run_cli(
        capsys, "inspect", str(heads), "--dot", str(dot), "--html", str(missing)
    )
    assert code == 2 and out == ""
    assert err.startswith(f"error: cannot write {missing}")
    assert dot.read_text() == "old\n"  # all files or none
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heads.dot", "heads.py"]


def test_output_path_that_is_a_folder(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "inspect", str(heads), "--json", str(tmp_path))
    assert code == 2 and err.startswith(f"error: cannot write {tmp_path}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heads.py"]


def test_one_path_for_two_outputs(capsys: Capsys, heads: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "both")
    code, _, err = run_cli(capsys, "inspect", str(heads), "--dot", path, "--json", path)
    assert code == 2 and "is given for more than one of --dot, --html and --json" in err


# the pieces ----------------------------------------------------------------------------------
def test_ir_diff_lines_and_numbers() -> None:
    before = "a\nb\nc\nd\ne\nf\ng\nh\ni\n"
    after = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n"
    assert ir_diff(before, after, context=1) == [
        DiffLine("hunk", None, None, "@@ -4,3 +4,3 @@"),
        DiffLine("context", 4, 4, "d"),
        DiffLine("removed", 5, None, "e"),
        DiffLine("added", None, 5, "E"),
        DiffLine("context", 6, 6, "f"),
        DiffLine("hunk", None, None, "@@ -9,1 +9,2 @@"),
        DiffLine("context", 9, 9, "i"),
        DiffLine("added", None, 10, "j"),
    ]
    assert ir_diff(before, before) == []


SMALL = """\
graph small(%x: f32[N,4]) -> (f32[N,4]) {
  @w: f32[4,4]
  %a = relu(%x) : f32[N,4]
  %b = matmul(%a, @w) : f32[N,4]
  %c = add(%b, %a) : f32[N,4]
  return %c
}
"""


def test_summary_counts_and_peak_memory() -> None:
    graph = parse_graph(SMALL)
    summary = summarize_graph(graph, {"N": 2})
    assert summary.nodes == 3
    assert summary.op_counts == (("add", 1), ("matmul", 1), ("relu", 1))
    assert (summary.parameters, summary.parameter_bytes) == (16, 64)
    assert summary.flops == graph_flops(graph, {"N": 2})
    # Each value is 2*4 f32 = 32 bytes. Live: x; +a (64); x dies; +b (64); +c (96), then
    # a and b die and c stays (an output).
    assert summary.activation_bytes == 3 * 32
    assert summary.peak_activation_bytes == 96
    unbound = summarize_graph(graph, {})
    assert isinstance(unbound.flops, str) and "N" in unbound.flops  # the symbolic expression
    assert unbound.peak_activation_bytes == "symbolic"
