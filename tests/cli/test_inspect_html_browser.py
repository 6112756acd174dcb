"""The ``--html`` page in a real browser: headless Chromium runs its inline script.

``chromium --headless --dump-dom`` loads the page from a file and prints the
DOM after the scripts ran. The script's marks prove it ran without an error
(``<body data-ready="true">``, a ``nav#toc`` link per pass section, a
show/hide button per diff); the page must not ask for anything over the
network (no http(s) URLs, no sources), and names from the model stay text.

Chromium is Debian's ``chromium`` package. Where it is missing the tests are
skipped, except in CI (``CI=true``), where they fail: ``.ci/run`` installs
it there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nanograph.passes.pipelines import PIPELINES
from tests.cli.cli_run import run_cli
from tests.cli.inspect_fixtures import PageParser, parse_page, use_test_pipeline, write_model

INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"


def chromium() -> str:
    """The Chromium executable; skip (or, in CI, fail) where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    if found is not None:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"headless Chromium is needed in CI for the --html page test; run: {INSTALL}")
    pytest.skip(f"Chromium is not installed (to run this test: {INSTALL})")


def rendered_dom(page: Path, scratch: Path) -> PageParser:
    """The DOM of ``page`` after its scripts ran in headless Chromium, parsed."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={scratch / 'chromium-profile'}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    assert "<body" in done.stdout, f"chromium printed no DOM: {done.stderr[-2000:]}"
    return parse_page(done.stdout)


def body_attrs(dom: PageParser) -> dict[str, str | None]:
    (attrs,) = [a for tag, a, _ in dom.elements if tag == "body"]
    return attrs


def test_zoo_page_runs_its_script(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    page = tmp_path / "vit_tiny.html"
    code, _, err = run_cli(capsys, "inspect", "vit_tiny", "--level", "O2", "--html", str(page))
    assert code == 0, err
    source = page.read_text()
    assert not re.search(r"https?://", source, re.I)  # nothing to fetch
    dom = rendered_dom(page, tmp_path)
    body = body_attrs(dom)
    assert body["data-ready"] == "true", body["data-ready"]  # "error: ..." if the script threw
    passes = [p.name for p in PIPELINES["O2"]]
    assert body["data-passes"] == str(len(passes))
    links = dom.by_class("toc-link")
    assert [text.split(" (")[0] for _, text in links] == [
        f"{i}. {name}" for i, name in enumerate(passes, 1)
    ]
    sections = {attrs["id"] for attrs, _ in dom.by_class("pass")}
    assert {(attrs["href"] or "")[1:] for attrs, _ in links} == sections


def test_rewrites_near_misses_and_diffs_after_the_script(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_pipeline(monkeypatch)
    model = write_model(tmp_path, 'ev<b>&"il.py')
    page = tmp_path / "heads.html"
    code, _, err = run_cli(capsys, "inspect", str(model), "--html", str(page))
    assert code == 0, err
    dom = rendered_dom(page, tmp_path)
    assert body_attrs(dom)["data-ready"] == "true"
    assert [text for _, text in dom.by_class("toc-link")] == [
        "1. dce (0 rewrites, 0 near misses)",
        "2. fuse_linear (1 rewrite, 3 near misses)",
        "3. dce (0 rewrites, 0 near misses)",
    ]
    assert len(dom.by_class("rewrite")) == 1
    assert len(dom.by_class("near-miss")) == 3
    assert len(dom.by_class("diff")) == 1
    assert [text for _, text in dom.by_class("diff-toggle")] == ["hide diff"]
    assert "b" not in dom.tags  # the model's name stayed text
    assert dom.by_class("rewrite")[0][1].endswith('at ev<b>&"il.py:15')


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_chromium_fails_only_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=re.escape(INSTALL)):
        chromium()
