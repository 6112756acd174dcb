"""Calling the CLI in-process from tests."""

from __future__ import annotations

import pytest

from nanograph.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``nanograph ARGV``: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
