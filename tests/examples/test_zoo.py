"""Every zoo model builds, traces, verifies, runs and round-trips through the IR text form.

For each model in ``nanograph.zoo.MODELS``: ``build()`` gives a module with
parameters and a ``ModelSpec``; the traced graph verifies; the reference
interpreter runs the symbolic graph on ``ModelSpec.random_inputs`` at the
example dims and at batch ``N=2``, giving finite outputs of the shape the graph
declares (and the same outputs as the graph specialized to those dims); and
``print_graph(parse_graph(print_graph(g), constants))`` reproduces the text
exactly.
"""

from __future__ import annotations

import ast
import inspect
import runpy
from types import ModuleType

import numpy as np
import pytest

from nanograph.backends.reference import run_reference
from nanograph.frontend.nn import Module
from nanograph.frontend.spec import ModelSpec
from nanograph.frontend.trace import trace
from nanograph.ir.dims import substitute
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import specialize
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.verify import verify
from nanograph.zoo import MODELS

NAMES = list(MODELS)
MAX_PARAMETERS = 300_000


@pytest.fixture(scope="module", params=NAMES)
def built(request: pytest.FixtureRequest) -> tuple[str, Module, ModelSpec, Graph]:
    model, spec = MODELS[request.param].build()
    return request.param, model, spec, trace(model, spec)


def test_the_zoo_has_the_six_models() -> None:
    assert set(NAMES) == {
        "lenet",
        "resnet_small",
        "pos_tagger",
        "vit_tiny",
        "sagan",
        "banded_speech",
    }


@pytest.mark.parametrize("name", NAMES)
def test_module_contract(name: str) -> None:
    """A one-line description, ``build(seed)``, ``torch_model()`` and a ``__main__`` block."""
    module: ModuleType = MODELS[name]
    assert module.__doc__ and module.__doc__.strip().splitlines()[0]
    assert "seed" in inspect.signature(module.build).parameters
    assert callable(module.torch_model)
    tree = ast.parse(inspect.getsource(module))
    assert any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body
    )


def test_builds_with_parameters(built: tuple[str, Module, ModelSpec, Graph]) -> None:
    name, model, spec, _ = built
    assert isinstance(model, Module)
    assert isinstance(spec, ModelSpec)
    assert 0 < model.num_parameters() < MAX_PARAMETERS, name
    assert "N" in spec.symbols()


def test_seed_is_deterministic_and_matters() -> None:
    for name in NAMES:
        a, b, c = (MODELS[name].build(seed)[0].state_dict() for seed in (3, 3, 4))
        assert all(np.array_equal(a[k], b[k]) for k in a), name
        assert any(not np.array_equal(a[k], c[k]) for k in a), name


def test_traces_and_verifies(built: tuple[str, Module, ModelSpec, Graph]) -> None:
    _, model, spec, graph = built
    verify(graph)
    assert [v.name for v in graph.inputs] == [s.name for s in spec]
    assert len(graph.outputs) == 1
    names = set(graph.constants)
    assert {k for k, _ in model.named_parameters()} <= names


@pytest.mark.parametrize("batch", [None, 2])
def test_runs_in_the_reference_interpreter(
    built: tuple[str, Module, ModelSpec, Graph], batch: int | None
) -> None:
    """Finite outputs of the declared shape at the example dims and at N=2."""
    name, _, spec, graph = built
    dims = spec.resolve_dims({"N": batch} if batch else None)
    feeds = spec.random_inputs(seed=7, dims=dims)
    outputs = run_reference(graph, feeds)
    assert list(outputs) == [v.name for v in graph.outputs]
    for value in graph.outputs:
        array = outputs[value.name]
        expected = tuple(substitute(d, dims) for d in value.type.shape)
        assert array.shape == expected, name
        assert array.dtype == np.float32
        assert np.isfinite(array).all(), name
    static = run_reference(specialize(graph, dims), feeds)
    for key, array in static.items():
        np.testing.assert_array_equal(array, outputs[key])
    if batch:  # rows of a batch are independent: row 0 alone gives the same answer
        one = run_reference(graph, {k: v[:1] for k, v in feeds.items()})
        for key, array in one.items():
            np.testing.assert_allclose(array, outputs[key][:1], rtol=1e-5, atol=1e-6)


def test_text_round_trip(built: tuple[str, Module, ModelSpec, Graph]) -> None:
    _, _, _, graph = built
    constants = {name: v.const for name, v in graph.constants.items() if v.const is not None}
    text = print_graph(graph)
    parsed = parse_graph(text, constants)
    verify(parsed)
    assert print_graph(parsed) == text


@pytest.mark.parametrize("name", NAMES)
def test_runs_as_a_script(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``python examples/<name>.py`` builds, traces, prints the IR size and runs once."""
    path = inspect.getfile(MODELS[name])
    runpy.run_path(path, run_name="__main__")
    out = capsys.readouterr().out
    assert "parameters" in out and "IR text" in out and "ran once" in out
