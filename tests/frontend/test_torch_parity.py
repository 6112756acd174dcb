"""PyTorch semantics without PyTorch: zoo models match outputs recorded from torch.

Each ``tests/fixtures/<name>.npz`` holds a torch ``state_dict`` (``state/...``),
an input (``input/...``) and torch's output (``output/output``), written by
``tests/fixtures/make_torch_fixtures.py`` from the zoo's ``torch_model()`` with
torch's own random weights and random BatchNorm statistics. Here we load that
state dict into our DSL model with ``load_state_dict``, trace it, run the NumPy
reference interpreter and require ``assert_allclose(rtol=1e-4, atol=1e-5)``
against torch's output. torch is not imported (CI has none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanograph.backends.reference import run_reference
from nanograph.frontend.trace import trace
from nanograph.zoo import MODELS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RTOL, ATOL = 1e-4, 1e-5
NAMES = sorted(p.stem for p in FIXTURES.glob("*.npz"))


def _load(name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        groups: dict[str, dict[str, np.ndarray]] = {"state": {}, "input": {}, "output": {}}
        for key in data.files:
            group, _, rest = key.partition("/")
            groups[group][rest] = data[key]
    return groups["state"], groups["input"], groups["output"]["output"]


def test_fixtures_cover_the_required_models() -> None:
    assert {"lenet", "resnet_small", "pos_tagger"} <= set(NAMES)
    assert set(NAMES) <= set(MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_matches_pytorch(name: str) -> None:
    """Our reference output equals PyTorch's within rtol=1e-4, atol=1e-5."""
    state, feeds, expected = _load(name)
    model, spec = MODELS[name].build(seed=1)
    model.load_state_dict(state)
    graph = trace(model, spec)
    outputs = run_reference(graph, feeds)  # symbols take their sizes from the arrays
    (actual,) = outputs.values()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_weights_matter() -> None:
    """The comparison is not vacuous: our own init gives a different output."""
    _, feeds, expected = _load("lenet")
    model, spec = MODELS["lenet"].build(seed=1)
    outputs = run_reference(trace(model, spec), feeds)
    assert not np.allclose(next(iter(outputs.values())), expected, rtol=RTOL, atol=ATOL)
