"""The planned executor computes what the reference interpreter computes, on every zoo model
at O0, O1 and O2 (two batch sizes through one executor) and on every PyTorch ONNX fixture.

Each graph runs through four kernel sets:

- ``references``: no executor kernel and no fallback kernel: every step runs
  its op's reference and copies the result into the arena;
- ``write-kernels``: the test kernels for ``relu`` and ``add`` (``out=``
  versions of the reference's NumPy call, run in place where the plan says);
- ``fallbacks``: the default fallbacks (``NUMPY_KERNELS``: the blocked
  attention kernel) and no executor kernel;
- ``default``: what backend ``numpy`` runs (``EXECUTOR_KERNELS`` where that
  package exists, then ``NUMPY_KERNELS``).

Tolerances: the first two do the reference's own arithmetic in the same order
(the arena only changes where results are stored), so they must agree
exactly. The last two run kernels that reorder float32 arithmetic (blocked
attention, GEMM with bias, an erf approximation accurate to 1e-6): rtol 1e-5
with atol 1e-6 allows some 100 float32 ulps on outputs of size ~1 and ~10 ulps
of 1e-6 absolute noise per op near zero, while a wrong axis, scale, mask or
epsilon is off by 1e-3 or more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from nanograph.api import optimize
from nanograph.backends.planned.executor import PlannedExecutor
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.zoo import MODELS
from tests.backends.planned.planned_models import WRITE_KERNELS, zoo, zoo_feeds
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

RTOL, ATOL = 1e-5, 1e-6
LEVELS = ("O0", "O1", "O2")
BATCHES = (1, 3)
KERNEL_SETS: dict[str, dict[str, Any]] = {
    "references": {"kernels": {}, "fallbacks": {}},
    "write-kernels": {"kernels": WRITE_KERNELS, "fallbacks": {}},
    "fallbacks": {"kernels": {}},
    "default": {},
}
EXACT = {"references", "write-kernels"}
FIXTURES = sorted(
    str(p.relative_to(ONNX_FIXTURES).with_suffix("")) for p in ONNX_FIXTURES.rglob("*.onnx")
)


def assert_matches(
    got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], exact: bool, what: str
) -> None:
    assert list(got) == list(want), what
    for name, array in want.items():
        assert got[name].shape == array.shape and got[name].dtype == array.dtype, name
        if exact:
            np.testing.assert_array_equal(got[name], array, err_msg=f"{what}: {name}")
        else:
            np.testing.assert_allclose(
                got[name], array, rtol=RTOL, atol=ATOL, err_msg=f"{what}: {name}"
            )


def check_every_kernel_set(graph: Graph, feeds_list: list[dict[str, np.ndarray]]) -> None:
    """One executor per kernel set, run on every feed in turn, against the interpreter."""
    reference = ReferenceInterpreter(graph)
    wanted = [reference.run(feeds) for feeds in feeds_list]
    for kernel_set, options in KERNEL_SETS.items():
        executor = PlannedExecutor(graph, **options)
        for feeds, want in zip(feeds_list, wanted, strict=True):
            shapes = {k: v.shape for k, v in feeds.items()}
            got = executor.run(feeds)
            assert_matches(got, want, kernel_set in EXACT, f"{kernel_set} on {shapes}")


def test_fixture_list_is_not_empty() -> None:
    assert "mha_classic" in FIXTURES and "decomposed/ln_gelu_classic14" in FIXTURES


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_matches_the_reference_interpreter(name: str, level: str) -> None:
    graph, spec = zoo(name)
    work, _ = optimize(graph, level)
    check_every_kernel_set(work, [zoo_feeds(spec, batch) for batch in BATCHES])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", FIXTURES)
def test_pytorch_onnx_fixture_matches_the_reference_interpreter(name: str, level: str) -> None:
    recorded = load_fixture(name)
    work, _ = optimize(import_onnx(recorded.model), level)
    check_every_kernel_set(work, [recorded.inputs])
