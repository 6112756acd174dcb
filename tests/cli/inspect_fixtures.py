"""A test-only fusion pipeline and models for the ``nanograph inspect`` tests.

The real fusion passes are written elsewhere; these tests need rewrites and
near misses whatever the O2 pipeline holds today, so ``use_test_pipeline``
makes O2 run ``dce, fuse_linear, dce`` where ``fuse_linear`` is one real
``Rule`` (matmul + constant vector bias -> ``linear``).

``HEADS`` is a model with four projections (``heads.py`` lines 15 to 19):
``fc`` fuses; ``proj + b`` (the bias is a graph input), ``(shared + 1) *
shared`` (the matmul has two uses) and ``shift + 0.5`` (the bias is a
scalar, which the rule's check refuses) are near misses, each with its own
reason.

``PageParser``/``parse_page`` read an HTML page (or a browser's DOM dump)
into elements with their attributes and text, for the ``--html`` tests.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from nanograph.ir.graph import Graph
from nanograph.passes.canonicalize.dead_code import DEAD_CODE
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, const, op, var
from nanograph.passes.pipelines import PIPELINES
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Rule, apply_rules


def _bias_is_a_vector(m: Match) -> str | None:
    bias = m["b"]
    if bias.type.rank == 1:
        return None
    return f"the bias @{bias.name} is {bias.type}, not a vector of output features"


LINEAR_RULE = Rule(
    "matmul+add->linear",
    op.add(op.matmul(var("x"), var("w")), const("b")),
    build=lambda m, em: [em.op("linear", m["x"], m["w"], m["b"])],
    checks=(_bias_is_a_vector,),
)


def fuse_linear(graph: Graph) -> PassResult:
    """Fuse matmul + a constant bias vector into linear (a test-only pass)."""
    return apply_rules(graph, [LINEAR_RULE])


FUSE_LINEAR = Pass("fuse_linear", fuse_linear)
TEST_O2 = (DEAD_CODE, FUSE_LINEAR, DEAD_CODE)


def use_test_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make level O2 run ``TEST_O2`` (``nanograph.api`` reads the same dict)."""
    monkeypatch.setitem(PIPELINES, "O2", TEST_O2)


HEADS = '''\
"""Four projections: one fuses, three are near misses of a test-only matmul+add rule."""
import nanograph as ng
from nanograph import nn


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.proj = nn.Linear(8, 4, bias=False)
        self.shared = nn.Linear(8, 4, bias=False)
        self.shift = nn.Linear(8, 4, bias=False)

    def forward(self, x, b):
        y = self.fc(x)
        z = self.proj(x) + b
        s = self.shared(x)
        u = (s + 1.0) * s
        v = self.shift(x) + 0.5
        return y, z, u, v


def build(seed=0):
    nn.manual_seed(seed)
    spec = ng.ModelSpec([ng.InputSpec("x", ("N", 8)), ng.InputSpec("b", ("N", 4))], {"N": 2})
    return Heads(), spec
'''


def write_model(folder: Path, name: str = "heads.py") -> Path:
    """``HEADS`` written to ``folder/name``; the model is named after the file's stem."""
    path = folder / name
    path.write_text(HEADS)
    return path


class PageParser(HTMLParser):
    """Elements (tag, attrs, text inside) of a page, and every tag name seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.open: list[list[str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        text: list[str] = []
        self.elements.append((tag, dict(attrs), text))
        if tag not in ("meta", "input", "br"):
            self.open.append(text)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "input", "br") and self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        for text in self.open:
            text.append(data)

    def by_class(self, name: str) -> list[tuple[dict[str, str | None], str]]:
        return [
            (attrs, "".join(text))
            for _, attrs, text in self.elements
            if name in (attrs.get("class") or "").split()
        ]

    def by_id(self, name: str) -> tuple[dict[str, str | None], str]:
        (found,) = [(a, "".join(t)) for _, a, t in self.elements if a.get("id") == name]
        return found


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return parser


__all__ = [
    "FUSE_LINEAR",
    "HEADS",
    "LINEAR_RULE",
    "TEST_O2",
    "PageParser",
    "parse_page",
    "use_test_pipeline",
    "write_model",
]
