"""``onnx.backend.base.Backend`` over nanograph: the ONNX importer plus the NumPy reference.

This is the adapter ONNX's backend test suite expects (``prepare`` a model,
``run`` it on positional inputs), so the ONNX node tests can check our
importer and op semantics (``tests/conformance``). Contracts:

- ``prepare(model)`` imports the model with ``import_onnx`` (a path, bytes or a
  ``ModelProto``) and builds a ``ReferenceInterpreter``; whatever the importer
  refuses (an unsupported op, attribute or dtype) propagates as its own
  ``NanographError``, unchanged, so the message names the node and the reason.
- ``BackendRep.run(inputs)`` takes the inputs positionally in the ONNX graph's
  input order (initializers listed as inputs are not inputs) or as a mapping by
  ONNX input name, and returns the outputs as a tuple in ONNX output order.
- Only the ``CPU`` device is supported; asking for another raises ``ConfigError``.

The importer is imported lazily: ``nanograph.backends`` does not depend on the
frontend at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.backend.base as onnx_backend
import onnx.shape_inference
from onnx import helper, numpy_helper

from nanograph.backends.reference import ReferenceInterpreter
from nanograph.ir.errors import ConfigError, InputError
from nanograph.ir.graph import Graph

DEVICE = "CPU"


def _real_inputs(model: onnx.ModelProto) -> list[str]:
    """The graph inputs a caller feeds: ``graph.input`` less initializers (IR < 4 lists them)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return np.asarray(value)


class NanographRep(onnx_backend.BackendRep):
    """A prepared model: its imported graph and an interpreter, ready to run many times."""

    def __init__(self, graph: Graph, onnx_inputs: Sequence[str], onnx_outputs: Sequence[str]):
        self.graph = graph
        self.interpreter = ReferenceInterpreter(graph)
        self.onnx_inputs = list(onnx_inputs)
        self.onnx_outputs = list(onnx_outputs)
        ours = [v.name for v in graph.inputs]
        if len(ours) != len(self.onnx_inputs):
            raise InputError(
                f"the imported graph takes {len(ours)} inputs ({', '.join(ours)}), "
                f"the ONNX model {len(self.onnx_inputs)} ({', '.join(self.onnx_inputs)})",
                hint="this is a bug in the ONNX importer; please report it with the model",
            )
        # The importer keeps ONNX names where it can; otherwise its input order is the contract.
        same = set(ours) == set(self.onnx_inputs)
        self._feed_name = {
            onnx_name: (onnx_name if same else ours[i])
            for i, onnx_name in enumerate(self.onnx_inputs)
        }

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Outputs in ONNX output order for ``inputs`` (positional list, one array, or by name)."""
        if isinstance(inputs, Mapping):
            by_name = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray | onnx.TensorProto):
                inputs = [inputs]
            arrays = list(inputs)
            if len(arrays) != len(self.onnx_inputs):
                raise InputError(
                    f"the model takes {len(self.onnx_inputs)} inputs "
                    f"({', '.join(self.onnx_inputs) or 'none'}), got {len(arrays)}",
                    hint="pass one array per ONNX graph input, in order",
                )
            by_name = dict(zip(self.onnx_inputs, arrays, strict=True))
        feeds = {self._feed_name.get(k, k): _as_array(v) for k, v in by_name.items()}
        results = self.interpreter.run(feeds, stacklevel=3)
        return tuple(results[v.name] for v in self.graph.outputs)  # the ONNX output order


class NanographBackend(onnx_backend.Backend):
    """ONNX's backend interface over the importer and the NumPy reference interpreter."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() == DEVICE

    @classmethod
    def prepare(
        cls, model: onnx.ModelProto | str | Path | bytes, device: str = DEVICE, **kwargs: Any
    ) -> NanographRep:
        """Import ``model`` and make it ready to run; importer errors propagate unchanged."""
        from nanograph.frontend.onnx_import import import_onnx  # lazy: frontend above backends

        if not cls.supports_device(device):
            raise ConfigError(
                f"device {device!r} is not supported by the nanograph ONNX backend",
                hint=f"use device={DEVICE!r} (the NumPy reference interpreter runs on the CPU)",
            )
        graph = import_onnx(model)  # first: it refuses malformed files with a clear error
        proto = _load(model)
        outputs = [o.name for o in proto.graph.output]
        return NanographRep(graph, _real_inputs(proto), outputs)

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = DEVICE, **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Any,
        device: str = DEVICE,
        outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
        **kwargs: Any,
    ) -> tuple[np.ndarray, ...]:
        """Run one node: wrap it in a model typed from ``inputs`` (and ``outputs_info``)."""
        model = node_model(node, [_as_array(a) for a in inputs], outputs_info, **kwargs)
        return cls.prepare(model, device).run(inputs)


def node_model(
    node: onnx.NodeProto,
    inputs: Sequence[np.ndarray],
    outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
    opset_version: int | None = None,
    **_: Any,
) -> onnx.ModelProto:
    """A one-node model whose inputs are typed like ``inputs`` (empty names are skipped) and
    whose outputs by ``outputs_info``, or else by ONNX shape inference."""
    present = [name for name in node.input if name]
    if len(present) != len(inputs):
        raise InputError(f"{node.op_type} has {len(present)} inputs, got {len(inputs)} arrays")
    graph_inputs = [
        helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape
        )
        for name, array in zip(present, inputs, strict=True)
    ]
    outs = [name for name in node.output if name]
    if outputs_info is None:
        graph_outputs = [helper.make_empty_tensor_value_info(name) for name in outs]
    else:
        graph_outputs = [
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dt), shape)
            for name, (dt, shape) in zip(outs, outputs_info, strict=True)
        ]
    graph = helper.make_graph([node], f"{node.op_type}_node", graph_inputs, graph_outputs)
    version = opset_version or onnx.defs.onnx_opset_version()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(node.domain, version)])
    if outputs_info is None:  # type the outputs by ONNX shape inference
        model = onnx.shape_inference.infer_shapes(model)
        del model.graph.value_info[:]
    return model


def _load(model: onnx.ModelProto | str | Path | bytes) -> onnx.ModelProto:
    """The ``ModelProto`` for reading input and output names (the importer does the checking)."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes):
        return onnx.load_model_from_string(model)
    return onnx.load(str(model), load_external_data=False)


prepare = NanographBackend.prepare
run_model = NanographBackend.run_model
run_node = NanographBackend.run_node
supports_device = NanographBackend.supports_device

__all__ = ["NanographBackend", "NanographRep", "node_model", "prepare", "run_model", "run_node"]
