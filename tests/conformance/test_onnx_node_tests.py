"""ONNX backend node tests over nanograph (the importer plus the NumPy reference).

Every node test case of every op type the importer converts (see
``node_cases.py`` for which cases count and how outputs are compared) either
passes or has an expectation in ``expected_failures.py`` and fails exactly as
stated there: same error class, a message containing the stated fragment. A
listed case that starts passing fails here too, so the table cannot rot; so
does a README conformance section that no longer matches the table.
"""

from __future__ import annotations

import onnx
import pytest

from tests.conformance.expected_failures import (
    EXPECTED_FAILURES,
    ONNX_VERSION,
    expected_failure,
)
from tests.conformance.node_cases import NodeCase, imported_op_types, node_cases, run_case
from tests.conformance.report import README, expected_failures, readme_section, render_markdown

CASES = node_cases()
TABLE = "tests/conformance/expected_failures.py"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case: NodeCase) -> None:
    outcome = run_case(case)
    expected = expected_failure(case)
    if expected is None:
        assert outcome.passed, (
            f"{case.name} ({case.op}) fails: {outcome.describe()}\n"
            f"fix it, or list it in {TABLE} with the reason"
        )
        return
    assert not outcome.passed, (
        f"{case.name} now passes, but {TABLE} expects {expected.error}: {expected.match!r} "
        f"({expected.reason}): update the table and the README section "
        "(python -m tests.conformance.report --write-readme)"
    )
    assert outcome.matches(expected.error, expected.match), (
        f"{case.name} fails differently than {TABLE} says:\n"
        f"  expected: {expected.error}: {expected.match!r}\n  actual: {outcome.describe()}"
    )


def test_every_listed_case_exists() -> None:
    names = {c.name for c in CASES}
    stale = sorted(set(EXPECTED_FAILURES) - names)
    assert not stale, f"{TABLE} lists cases that are not run: {stale}"


def test_every_imported_op_has_cases() -> None:
    """A converted op type without node tests would be silently untested here."""
    assert imported_op_types() - {c.op for c in CASES} == set()


@pytest.mark.skipif(onnx.__version__ != ONNX_VERSION, reason=f"table is for onnx {ONNX_VERSION}")
def test_readme_section_is_current() -> None:
    section = readme_section(README.read_text())
    assert section is not None, "README.md lacks the ONNX conformance section's markers"
    assert section == render_markdown(CASES, expected_failures(CASES)), (
        "README's conformance section is stale: python -m tests.conformance.report --write-readme"
    )
