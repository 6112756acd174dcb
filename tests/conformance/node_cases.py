"""The ONNX backend node tests for the op types we import, and running one over our backend.

onnx 1.23 no longer ships the node tests' data directories: ``onnx.backend.test``
generates each case (a one-node model, inputs, expected outputs) in memory
from its ``case/node/*.py`` scripts, through ``load_model_tests(kind="node")``;
older onnx releases read the same cases from ``data/node``, and both are
handled here. The scripts draw inputs from NumPy's global generator, so it is
seeded first: every run sees the same arrays, and a numeric expected failure
cannot flicker.

Which cases count: a case belongs to op ``X`` when its model is one ``X`` node
of the default domain and ``X`` is imported (``imported_op_types``). A case
named ``..._expanded`` runs the op's function body instead; it counts for
``X`` when every op of that body is imported too, and is left out otherwise
(``left_out_expanded`` lists them with the ops they need).

The node tests feed every input as a graph input, shapes and axes included,
where real exporters write constants; nanograph compiles static parameters
and refuses those at import. So each one-node case that feeds a parameter
input (``PARAMETER_INPUTS``: axes, shapes, pads, ...) gets a ``+const``
variant too, with those inputs as initializers, which tests the op's meaning;
the original case stays in the table with the refusal as its expected failure.

Comparison is onnx's own: ``BackendTest.assert_similar_outputs`` (same number
of outputs, equal shapes and dtypes, ``assert_allclose`` with the case's
tolerances, rtol 1e-3 and atol 1e-7 for every node case).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test import BackendTest
from onnx.backend.test.case.test_case import TestCase
from onnx.backend.test.loader import load_model_tests

from nanograph.backends.onnx_backend import NanographBackend
from nanograph.frontend.onnx_import import CONVERTERS
from nanograph.ir.errors import InputConversionWarning, OnnxImportWarning

SEED = 0


def imported_op_types() -> frozenset[str]:
    """The default-domain ONNX op types the importer converts (its converter registry)."""
    return frozenset(op for domain, op in CONVERTERS if domain in ("", "ai.onnx"))


# Inputs that exporters write as constants (shapes, axes, sizes, modes) by op and schema
# input name; the node tests feed them as graph inputs, which the importer cannot fold.
PARAMETER_INPUTS = {
    "ConstantOfShape": {"input"},
    "Dropout": {"training_mode"},  # ratio is unused in inference: a runtime one is fine
    "Expand": {"shape"},
    "Pad": {"pads", "constant_value", "axes"},
    "Range": {"start", "limit", "delta"},
    "ReduceMax": {"axes"},
    "ReduceMean": {"axes"},
    "ReduceMin": {"axes"},
    "ReduceSum": {"axes"},
    "Reshape": {"shape"},
    "Slice": {"starts", "ends", "axes", "steps"},
    "Split": {"split"},
    "Squeeze": {"axes"},
    "Unsqueeze": {"axes"},
}
CONST_SUFFIX = "+const"


@dataclass(frozen=True)
class NodeCase:
    """One node test: its name, the op it tests, the model and one or more data sets."""

    name: str
    op: str
    model: onnx.ModelProto
    data_sets: list[tuple[list[np.ndarray], list[np.ndarray]]]
    rtol: float
    atol: float

    @property
    def expanded(self) -> bool:
        return "_expanded" in self.name

    @property
    def variant(self) -> bool:
        """A ``+const`` variant: parameter inputs made initializers (see the module docstring)."""
        return self.name.endswith(CONST_SUFFIX)


@dataclass(frozen=True)
class Outcome:
    """What running a case gave: ``error`` is ``""`` for a pass, else the error's class name
    (``"mismatch"`` when the outputs differ from onnx's) and ``message`` says what."""

    error: str
    message: str

    @property
    def passed(self) -> bool:
        return not self.error

    def describe(self) -> str:
        return "pass" if self.passed else f"{self.error}: {self.message}"

    def matches(self, error: str, fragment: str) -> bool:
        """Whether this is a failure with error class ``error`` and ``fragment`` in its message."""
        return self.error == error and fragment in self.message


@functools.cache
def _all_node_tests() -> tuple[TestCase, ...]:
    state = np.random.get_state()
    np.random.seed(SEED)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return tuple(load_model_tests(kind="node"))
    finally:
        np.random.set_state(state)


def _arrays(values: Iterable[Any]) -> list[np.ndarray]:
    return [
        numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v)
        for v in values
    ]


def _data_sets(test: TestCase, model: onnx.ModelProto) -> list[tuple[list[Any], list[Any]]]:
    if test.data_sets is not None:
        return [(_arrays(ins), _arrays(outs)) for ins, outs in test.data_sets]
    sets = []
    assert test.model_dir is not None
    for folder in sorted(Path(test.model_dir).glob("test_data_set_*")):
        read = [
            [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(folder.glob(pat))]
            for pat in ("input_*.pb", "output_*.pb")
        ]
        sets.append((read[0], read[1]))
    return sets


def _model(test: TestCase) -> onnx.ModelProto:
    if test.model is not None:
        return test.model
    assert test.model_dir is not None
    return onnx.load(str(Path(test.model_dir) / "model.onnx"))


def _single_op(model: onnx.ModelProto) -> str | None:
    nodes = model.graph.node
    if len(nodes) == 1 and nodes[0].domain in ("", "ai.onnx"):
        return nodes[0].op_type
    return None


def _base_name(name: str) -> str:
    return re.sub(r"_expanded(_ver\d+)?$", "", name)


@functools.cache
def _classified() -> tuple[tuple[NodeCase, ...], tuple[tuple[str, str, frozenset[str]], ...]]:
    ops = imported_op_types()
    tests = {t.name: t for t in _all_node_tests()}
    op_of = {name: _single_op(_model(t)) for name, t in tests.items() if "_expanded" not in name}
    cases, left_out = [], []
    for name, test in sorted(tests.items()):
        op = op_of.get(_base_name(name))
        if op not in ops:
            continue
        model = _model(test)
        needs = frozenset(n.op_type for n in model.graph.node) - ops
        if needs:
            left_out.append((name, op, needs))
            continue
        case = NodeCase(name, op, model, _data_sets(test, model), test.rtol, test.atol)
        cases.append(case)
        params = parameter_inputs(model)
        if params and not case.expanded:
            cases.append(with_constant_inputs(case, params))
    return tuple(cases), tuple(left_out)


def parameter_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs that feed a parameter input (``PARAMETER_INPUTS``) of a one-node model."""
    op = _single_op(model)
    if op not in PARAMETER_INPUTS:
        return []
    node = model.graph.node[0]
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    schema = onnx.defs.get_schema(op, max_inclusive_version=opset)
    graph_inputs = {i.name for i in model.graph.input}
    return [
        name
        for slot, name in zip(schema.inputs, node.input, strict=False)
        if slot.name in PARAMETER_INPUTS[op] and name in graph_inputs
    ]


def with_constant_inputs(case: NodeCase, names: Sequence[str]) -> NodeCase:
    """The ``+const`` variant of ``case``: inputs ``names`` become initializers holding the
    values of its (single) data set, as an exporter would write them."""
    (inputs, outputs), *more = case.data_sets
    assert not more, f"{case.name}: a +const variant needs exactly one data set"
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    order = [i.name for i in case.model.graph.input]
    kept = [i for i in case.model.graph.input if i.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for name in names:
        value = inputs[order.index(name)]
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    feeds = [a for name, a in zip(order, inputs, strict=True) if name not in names]
    return NodeCase(
        case.name + CONST_SUFFIX, case.op, model, [(feeds, outputs)], case.rtol, case.atol
    )


def node_cases() -> tuple[NodeCase, ...]:
    """Every node test case of an imported op (see the module docstring), sorted by name."""
    return _classified()[0]


def left_out_expanded() -> tuple[tuple[str, str, frozenset[str]], ...]:
    """(case, op, ops its function body needs that we do not import) for skipped expansions."""
    return _classified()[1]


def case_by_name(name: str) -> NodeCase:
    return next(c for c in node_cases() if c.name == name)


def run_case(case: NodeCase) -> Outcome:
    """Prepare and run ``case`` on our backend; compare as onnx's runner does."""
    try:
        with warnings.catch_warnings():
            # a converted input would hide a dtype bug in the importer
            warnings.simplefilter("error", InputConversionWarning)
            # ONNX's zero-size cases declare dim_value 0 inputs on purpose
            warnings.simplefilter("ignore", OnnxImportWarning)
            rep = NanographBackend.prepare(case.model, "CPU")
            for inputs, expected in case.data_sets:
                outputs = list(rep.run(inputs))
                BackendTest.assert_similar_outputs(
                    expected, outputs, rtol=case.rtol, atol=case.atol
                )
    except AssertionError as err:
        return Outcome("mismatch", _one_line(str(err)))
    except Exception as err:
        return Outcome(type(err).__name__, _one_line(str(err)))
    return Outcome("", "")


def _one_line(text: str) -> str:
    return " ".join(text.split())
