"""Bad input catalogue, CLI (more): what the reviewer found ``nanograph run`` let through.

Bad arguments exit 2 from argparse with a message and a fix (a negative
``--seed``, a dim NumPy cannot index, a symbol given twice in ``--dims``).
A model whose own code raises (at import, in ``build()``, in ``forward``
while tracing) exits 2 naming the model file's line and the original
exception, with a hint. With the memory limit lifted, random inputs that
cannot be made are a ``ResourceLimitError``, not NumPy's ``MemoryError``;
beyond the machine's physical memory the hint suggests smaller dims, never a
bigger limit. onnxruntime refuses sizes the traced graph does not support
like the NumPy backends do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import nanograph
import nanograph.backends.memory_limit as ml
from nanograph.frontend.spec import ModelSpec
from nanograph.ir.errors import (
    ModelLoadError,
    NanographError,
    ResourceLimitError,
    TraceError,
)
from nanograph.model_loading import load_model
from tests.reliability.clear_error import assert_clear
from tests.reliability.test_bad_inputs_cli import cli

GiB = 2**30

FORWARD_RAISES = """\
import nanograph as ng
from nanograph import nn
class M(nn.Module):
    def forward(self, x):
        raise ValueError("fwd boom")
def build():
    return M(), ng.ModelSpec(inputs=[ng.InputSpec("x", ("N", 4))])
"""


# argparse-level refusals --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (("run", "lenet", "--seed", "-1"), "'-1' is not a seed: give an int >= 0"),
        (("run", "lenet", "--seed", "one"), "'one' is not a seed"),
        (("run", "lenet", "--dims", "N=4,N=5"), "N is given twice (N=4 and N=5)"),
        (
            ("run", "lenet", "--dims", "N=99999999999999999999999"),
            "a dim must be at most 9223372036854775807",
        ),
        (("show", "lenet", "--dims", "N=9223372036854775808"), "the most NumPy can index"),
        (("show", "lenet", "--dims", "N=\u00b2"), "is not SYMBOL=INT"),  # '²'.isdigit() is True
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], what: str
) -> None:
    code, err = cli(capsys, *argv)
    assert code == 2
    assert what in err and "Traceback" not in err, err


# errors in the model's own code -----------------------------------------------------------------
def test_a_forward_that_raises_names_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "fwdraises.py"
    path.write_text(FORWARD_RAISES)
    code, err = cli(capsys, "run", str(path))
    assert code == 2
    assert f"at {path}:5" in err and "ValueError: fwd boom" in err and "fix: " in err, err

    with pytest.raises(NanographError) as info:
        load_model(str(path)).trace()
    error = assert_clear(info.value, TraceError, "ValueError: fwd boom", f"{path}:5")
    assert isinstance(error.__cause__, ValueError)
    assert "model's own code" in error.hint


def test_a_model_file_that_raises_on_import_has_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "raises.py"
    path.write_text('X = 1\nraise RuntimeError("boom in model file")\n')
    with pytest.raises(NanographError) as info:
        load_model(str(path))
    error = assert_clear(info.value, ModelLoadError, "RuntimeError: boom", f"{path}:2")
    assert f"python {path}" in error.hint


def test_a_helper_module_beside_the_model_is_named_when_it_raises(tmp_path: Path) -> None:
    helper = tmp_path / "helper_layers.py"
    helper.write_text("def block(x):\n    return x.nonexistent_method()\n")
    path = tmp_path / "model_with_helper.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import nanograph as ng\n"
        "import helper_layers\n"
        "def build():\n"
        "    return helper_layers.block, ng.InputSpec('x', ('N', 4))\n"
    )
    with pytest.raises(NanographError) as info:
        load_model(str(path)).trace()
    assert_clear(info.value, TraceError, "AttributeError", f"{helper}:2")


# no limit: allocation failures of random inputs --------------------------------------------------
def test_random_inputs_numpy_cannot_index_are_refused_without_a_limit() -> None:
    with ml.set_memory_limit("none"), pytest.raises(NanographError) as info:
        load_model("lenet").random_inputs(0, {"N": 2**63 - 1})
    error = assert_clear(
        info.value, ResourceLimitError, "more than NumPy can index", "%x (input of graph lenet)"
    )
    assert "raise the limit" not in error.hint


def test_random_inputs_numpy_cannot_allocate_are_refused_without_a_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 5.70 TiB for an array")

    monkeypatch.setattr(ModelSpec, "random_inputs", no_memory)
    code, err = cli(capsys, "run", "lenet", "--dims", "N=1000000000", "--memory-limit", "none")
    assert code == 2
    assert "which NumPy could not allocate (Unable to allocate 5.70 TiB" in err, err
    assert "at %x (input of graph lenet)" in err and "fix: use smaller dims" in err, err


def test_a_failed_allocation_while_running_exits_2_with_a_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 43.8 GiB for an array")

    monkeypatch.setattr(nanograph, "compile", no_memory)
    code, err = cli(capsys, "run", "lenet", "--dims", "N=2", "--memory-limit", "none")
    assert code == 2
    assert "ran out of memory at N=2: Unable to allocate 43.8 GiB" in err, err
    assert "at MODEL lenet" in err and "fix: use smaller dims than N=2" in err, err


# the hint: beyond physical memory, smaller dims; within it, a limit that fits --------------
def test_beyond_physical_memory_the_hint_suggests_smaller_dims_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ml, "physical_memory", lambda: 16 * GiB)
    hint = ml.refusal_hint(10**15, "N=1000000")
    assert "use smaller dims or batch than N=1000000" in hint
    assert "more than this machine's 16 GiB of physical memory" in hint
    assert "TiB (--memory-limit" not in hint and "at least" not in hint

    within = ml.refusal_hint(10 * GiB, "N=8")
    assert "raise the limit to at least 10GiB (--memory-limit 10GiB" in within


def test_the_cli_refusal_above_physical_memory_suggests_no_absurd_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ml, "physical_memory", lambda: 16 * GiB)
    code, err = cli(capsys, "run", "lenet", "--dims", "N=1000000000", "--memory-limit", "1GiB")
    assert code == 2
    assert "16 GiB of physical memory" in err and "TiB (--memory-limit" not in err, err


# onnxruntime refuses what the NumPy backends refuse --------------------------------------------
def test_ort_refuses_a_sequence_longer_than_the_position_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outs = []
    for backend in ("numpy", "ort-cpu"):
        code, err = cli(capsys, "run", "pos_tagger", "--dims", "S=600", "--backend", backend)
        assert code == 2, err
        outs.append(err)
    assert "outside what the model supports" in outs[1] and "C++" not in outs[1], outs[1]
    assert outs[0] == outs[1]
