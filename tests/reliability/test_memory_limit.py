"""The memory limit's settings: accepted forms, sources and their order, scopes, the CLI flag.

Which limit is in force: ``compile(memory_limit=)``, else ``set_memory_limit``,
else ``NANOGRAPH_MEMORY_LIMIT``, else 3/4 of physical memory. Each source is
checked by a run that its limit must refuse (lenet at batch 64 needs more than
1 MiB) and that passes without it, so every test can fail both ways.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends import memory_limit as ml
from nanograph.cli import build_parser, main
from nanograph.ir.errors import ConfigError, NanographError, ResourceLimitError
from nanograph.model_loading import load_model
from tests.reliability.clear_error import assert_clear

MiB, GiB = 2**20, 2**30


@pytest.fixture(autouse=True)
def no_env_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the default: no variable set (tests set it themselves)."""
    monkeypatch.delenv(ml.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def lenet() -> tuple[ng.Graph, dict[str, np.ndarray]]:
    loaded = load_model("lenet")
    return loaded.trace(), loaded.random_inputs(0, {"N": 64})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000000", 1_000_000),
        ("512MiB", 512 * MiB),
        ("512 mib", 512 * MiB),
        ("4GB", 4 * 10**9),
        ("2.5GiB", 5 * GiB // 2),
        ("3TiB", 3 * 2**40),
        ("100kb", 100_000),
        (" 7B ", 7),
        ("none", None),
        ("OFF", None),
        (4096, 4096),
    ],
)
def test_accepted_forms(text: object, expected: int | None) -> None:
    assert ml.parse_limit(text, "test") == expected


@pytest.mark.parametrize("text", ["lots", "4 GiBs", "-1GiB", "0", "0.1B", "", "1e9", 0, 2.5, True])
def test_malformed_limits_are_refused_naming_the_source_and_the_forms(text: object) -> None:
    with pytest.raises(NanographError) as info:
        ml.parse_limit(text, "--memory-limit")
    error = assert_clear(info.value, ConfigError, "is not a memory limit", "--memory-limit")
    assert "512MiB" in error.hint and "none/off" in error.hint


def test_a_malformed_environment_variable_is_refused_at_the_run(
    monkeypatch: pytest.MonkeyPatch, lenet: tuple[ng.Graph, dict[str, np.ndarray]]
) -> None:
    graph, feeds = lenet
    exe = ng.compile(graph, "O0", "numpy-ref")
    monkeypatch.setenv(ml.ENV_VAR, "plenty")
    with pytest.raises(NanographError) as info:
        exe(feeds)
    assert_clear(info.value, ConfigError, "'plenty' is not a memory limit", ml.ENV_VAR)


def test_a_malformed_compile_option_is_refused_before_the_passes(
    lenet: tuple[ng.Graph, dict[str, np.ndarray]],
) -> None:
    with pytest.raises(NanographError) as info:
        ng.compile(lenet[0], "O3", "numpy", memory_limit="1 gigabyte")
    assert_clear(info.value, ConfigError, "'1 gigabyte'", "memory_limit=")


def test_the_default_is_three_quarters_of_physical_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert ml.memory_limit() == ml.default_limit() == int(ram * 0.75)

    def unreadable(name: str) -> int:
        raise ValueError(name)

    ml.default_limit.cache_clear()
    monkeypatch.setattr(os, "sysconf", unreadable)
    try:
        assert ml.default_limit() == 6 * GiB  # 3/4 of the 8 GiB fallback
    finally:
        ml.default_limit.cache_clear()


@pytest.mark.parametrize("backend", ["numpy-ref", "numpy", "ort-cpu"])
def test_the_environment_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
    lenet: tuple[ng.Graph, dict[str, np.ndarray]],
    backend: str,
) -> None:
    graph, feeds = lenet
    assert ng.compile(graph, "O2", backend)(feeds)["fc3"].shape == (64, 10)  # the default
    monkeypatch.setenv(ml.ENV_VAR, "1MiB")  # read before allocating for a run's sizes
    with pytest.raises(NanographError) as info:
        ng.compile(graph, "O2", backend)(feeds)
    error = assert_clear(info.value, ResourceLimitError, "N=64", "graph lenet")
    assert f"memory limit of 1 MiB ({MiB} bytes, from {ml.ENV_VAR})" in error.message


def test_set_memory_limit_is_a_scope_and_compile_overrides_it(
    monkeypatch: pytest.MonkeyPatch, lenet: tuple[ng.Graph, dict[str, np.ndarray]]
) -> None:
    graph, feeds = lenet
    inherits = ng.compile(graph, "O0", "numpy-ref")
    own = ng.compile(graph, "O0", "numpy-ref", memory_limit="none")
    monkeypatch.setenv(ml.ENV_VAR, "none")  # set_memory_limit comes first
    with ng.set_memory_limit("1MiB"):
        assert ng.memory_limit() == MiB
        with pytest.raises(ResourceLimitError, match="from set_memory_limit"):
            inherits(feeds)
        own(feeds)  # its compile option wins
        with ng.set_memory_limit(None):  # back to the variable: none
            assert ng.memory_limit() is None
            inherits(feeds)
        assert ng.memory_limit() == MiB  # the inner scope restored the outer one
    assert ng.memory_limit() is None
    inherits(feeds)
    small = ng.compile(graph, "O0", "numpy-ref", memory_limit=MiB)
    with pytest.raises(ResourceLimitError, match="from memory_limit= of compile"):
        small(feeds)


def test_the_cli_flag_sets_the_limit_for_the_command_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "lenet", "--dims", "N=64", "--memory-limit", "1MiB"]) == 2
    err = capsys.readouterr().err
    assert "memory limit of 1 MiB" in err and "from --memory-limit" in err and "fix:" in err
    assert "raise the limit to at least" in err  # the need fits in this machine's memory
    assert ml.ENV_VAR not in os.environ and ng.memory_limit() == ml.default_limit()
    assert main(["run", "lenet", "--dims", "N=64", "--memory-limit", "64MiB"]) == 0
    assert main(["run", "lenet", "--dims", "N=1000000000", "--memory-limit", "1TiB"]) == 2
    err = capsys.readouterr().err  # 8.56 TiB: no limit would make it fit
    assert "physical memory" in err and "raise the limit to" not in err


def test_a_malformed_cli_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "lenet", "--memory-limit", "huge"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--memory-limit" in err and "'huge' is not a memory limit" in err


def test_bench_takes_the_flag_and_passes_it_to_its_workers() -> None:
    """``bench`` workers are processes: they read the limit from the environment."""
    args = build_parser().parse_args(["bench", "lenet", "--memory-limit", "2GiB"])
    assert args.memory_limit == "2GiB"
    from nanograph.cli import _memory_limit

    with _memory_limit("2GiB"):
        assert os.environ[ml.ENV_VAR] == "2GiB" and ng.memory_limit() == 2 * GiB
    assert ml.ENV_VAR not in os.environ and ng.memory_limit() == ml.default_limit()
