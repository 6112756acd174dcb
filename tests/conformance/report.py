"""The ONNX conformance table: op -> node test cases passed/total, and the expected failures.

    python -m tests.conformance.report                 # run every case, print markdown
    python -m tests.conformance.report --write-readme  # and replace README's section

Running compares each case's outcome with its expectation
(``expected_failures.expected_failure``) and lists any disagreement on stderr
(exit status 1); the markdown is then rendered from the outcomes. When all
agree it equals what ``render_markdown`` makes from the table alone, which is
how the conformance test keeps the README's section current.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnx

from tests.conformance.expected_failures import DTYPE, ONNX_VERSION, Expected, expected_failure
from tests.conformance.node_cases import NodeCase, left_out_expanded, node_cases, run_case

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- conformance:begin (python -m tests.conformance.report --write-readme) -->"
END = "<!-- conformance:end -->"


def expected_failures(cases: Sequence[NodeCase]) -> dict[str, Expected]:
    """The table's expectation for each of ``cases`` that is expected to fail."""
    return {c.name: e for c in cases if (e := expected_failure(c)) is not None}


def render_markdown(cases: Sequence[NodeCase], failures: Mapping[str, Expected]) -> str:
    """The README section's body for ``cases`` of which exactly ``failures`` fail."""
    plain = [c for c in cases if not c.variant]
    variants = [c for c in cases if c.variant]
    typed = sum(1 for c in plain if c.name in failures and failures[c.name].reason == DTYPE)
    lines = [
        f"The ONNX backend node tests of onnx {ONNX_VERSION}, for every op type the importer "
        "converts, run by `NanographBackend` (`backends/onnx_backend.py`: `import_onnx` plus "
        "the NumPy reference interpreter) and compared as onnx's own runner compares them "
        "(equal shapes and dtypes, `assert_allclose` with rtol 1e-3, atol 1e-7). A case whose "
        "shape, axes or pads input is a graph input also runs as a `+const` variant with that "
        "input as an initializer, as exporters write it.",
        "",
        f"**{_passed(plain, failures)} of {len(plain)} node test cases pass**, and "
        f"{_passed(variants, failures)} of {len(variants)} `+const` variants; every other "
        "case fails in the way listed below, which `tests/conformance/test_onnx_node_tests.py` "
        "checks (error class and message), so a case that starts passing is noticed. "
        f"Leaving out the {typed} cases in element types nanograph does not have, "
        f"{_passed(plain, failures)} of {len(plain) - typed} pass.",
        "",
        "| op | cases passed / total | `+const` variants passed / total |",
        "|---|---|---|",
    ]
    for op in sorted({c.op for c in cases}):
        ours = [c for c in plain if c.op == op]
        theirs = [c for c in variants if c.op == op]
        extra = f"{_passed(theirs, failures)}/{len(theirs)}" if theirs else ""
        lines.append(f"| `{op}` | {_passed(ours, failures)}/{len(ours)} | {extra} |")
    lines += ["", "Expected failures, by reason (error class: what its message says):", ""]
    op_of = {c.name: c.op for c in cases}
    by_reason: dict[str, list[str]] = defaultdict(list)
    for name in sorted(failures):
        by_reason[failures[name].reason].append(name)
    for reason, names in sorted(by_reason.items(), key=_reason_order):
        ops = Counter(op_of[n] for n in names)
        per_op = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))
        errors = sorted({f"{failures[n].error}: '{failures[n].match}'" for n in names})
        shown = ", ".join(errors if len(errors) <= 3 else [*errors[:3], "..."])
        listing = textwrap.fill(", ".join(names), 96, initial_indent="  ", subsequent_indent="  ")
        lines += [
            f"- **{reason}** ({len(names)}: {per_op}). {shown}",
            "  <details><summary>cases</summary>",
            "",
            *listing.split("\n"),
            "  </details>",
        ]
    left_out = left_out_expanded()
    if left_out:
        needs = sorted({op for _, _, ops in left_out for op in ops})
        lines += [
            "",
            f"Not counted: {len(left_out)} `_expanded` cases whose function bodies use op types "
            f"the importer does not convert ({', '.join(needs)}).",
        ]
    return "\n".join(lines)


def _reason_order(item: tuple[str, list[str]]) -> tuple[bool, int, str]:
    """Bugs first, then the largest groups."""
    reason, names = item
    return (not reason.startswith("importer bug"), -len(names), reason)


def _passed(cases: Sequence[NodeCase], failures: Mapping[str, Expected]) -> int:
    return sum(1 for c in cases if c.name not in failures)


def readme_section(text: str) -> str | None:
    """The body between the markers in ``text``, or None if they are missing."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def write_readme(body: str) -> None:
    text = README.read_text()
    if readme_section(text) is None:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--write-readme", action="store_true", help="update README.md too")
    args = parser.parse_args(argv)
    if onnx.__version__ != ONNX_VERSION:
        print(f"note: the table is for onnx {ONNX_VERSION}; this is {onnx.__version__}",
              file=sys.stderr)  # fmt: skip
    start = time.perf_counter()
    cases = node_cases()
    failures: dict[str, Expected] = {}
    disagreements = []
    for case in cases:
        outcome = run_case(case)
        expected = expected_failure(case)
        if outcome.passed:
            if expected is not None:
                disagreements.append(f"{case.name}: passes, but is listed as {expected}")
            continue
        if expected is None or not outcome.matches(expected.error, expected.match):
            disagreements.append(f"{case.name}: {outcome.describe()[:400]}")
            expected = Expected(outcome.error, outcome.message[:120], "not in the table")
        failures[case.name] = expected
    print(render_markdown(cases, failures))
    elapsed = time.perf_counter() - start
    print(f"\n{len(cases)} cases in {elapsed:.1f} s", file=sys.stderr)
    for line in disagreements:
        print(f"DISAGREES WITH THE TABLE: {line}", file=sys.stderr)
    if args.write_readme and not disagreements:
        write_readme(render_markdown(cases, failures))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
