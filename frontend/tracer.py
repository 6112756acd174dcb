"""The tracer: records DSL operations on symbolic tensors as nodes of a Graph.

One ``Tracer`` is active while ``trace`` runs (a context variable, so nested
or concurrent traces in other threads do not mix). It knows:
- the graph being built;
- the module scope stack, so nodes get readable names: a node recorded inside
  module ``layers.0.linear1`` is ``layers.0.linear1.<op>``, and the module's
  output is renamed to the module path itself (see ``Module.__call__``);
- the state-dict name of every parameter and buffer, so weights become named
  constants (``@conv1.weight``) exactly once each;
- the user's source line, found by walking the stack past nanograph's own
  frontend frames, so every node and every error points at the model's code.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nanograph.ir.errors import NanographError, TraceError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.types import DType

if TYPE_CHECKING:
    from nanograph.frontend.tensor import Tensor

_FRONTEND_DIR = os.path.dirname(os.path.realpath(__file__))
_CURRENT: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("tracer", default=None)


def user_location() -> str:
    """``file:line`` of the innermost frame outside nanograph's frontend package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith(_FRONTEND_DIR + os.sep):
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def current_tracer(what: str = "") -> Tracer:
    """The active tracer; outside ``trace`` a ``TraceError`` naming ``what`` was attempted."""
    tracer = _CURRENT.get()
    if tracer is None:
        doing = f"cannot record {what}: " if what else ""
        raise TraceError(
            f"{doing}symbolic tensors can only be used while a model is being traced",
            loc=user_location(),
            hint="call ng.trace(model, spec) and use the tensors it passes to forward(); "
            "a tensor kept from a finished trace cannot be used again",
        )
    return tracer


def in_module(err: NanographError, path: str, kind: str) -> None:
    """Add "in module <path> (<kind>)" to ``err``'s location, once (innermost module wins)."""
    if getattr(err, "_module_noted", False):
        return
    context = f"in module {path} ({kind})"
    err.loc = f"{err.loc}, {context}" if err.loc else context
    err.args = (err._format(),)
    err._module_noted = True  # type: ignore[attr-defined]


class Tracer:
    """Builds ``graph`` from DSL calls (see module docstring)."""

    def __init__(
        self,
        graph: Graph,
        named_arrays: Mapping[int, str] | None = None,
        module_paths: Mapping[int, str] | None = None,
    ) -> None:
        self.graph = graph
        self.scopes: list[str] = []
        self.node_scope: dict[int, str] = {}  # id(node) -> the scope it was recorded in
        self.module_paths = dict(module_paths or {})
        self._array_names = dict(named_arrays or {})
        self._constants: dict[int, Value] = {}
        self._keepalive: list[Any] = []
        self._token: contextvars.Token[Tracer | None] | None = None

    def __enter__(self) -> Tracer:
        if _CURRENT.get() is not None:
            raise TraceError(
                "trace() was called while another trace is running in this thread",
                loc=user_location(),
                hint="trace the inner model separately; inside forward(), call modules directly",
            )
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)

    # constants --------------------------------------------------------------------
    def constant(self, array: Any, dtype: DType | None = None) -> Value:
        """The graph constant for a parameter, buffer or array (deduplicated by identity)."""
        # A Parameter wraps its array in .data (an ndarray's own .data is a memoryview).
        data = array if isinstance(array, np.ndarray) else getattr(array, "data", array)
        key = id(data)
        if key in self._constants:
            return self._constants[key]
        arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(dtype.numpy)
        elif arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu" and arr.dtype != np.int32:
            arr = arr.astype(np.int64)
        try:
            DType.parse(arr.dtype)
        except NanographError as err:
            raise TraceError(err.message, loc=user_location(), hint=err.hint) from None
        base = self._array_names.get(key) or self._scoped("const")
        value = self.graph.add_constant(self.graph.unique_name(base), arr)
        self._constants[key] = value
        self._keepalive.append(data)  # ids stay unique while the trace runs
        return value

    # nodes ------------------------------------------------------------------------
    def _scoped(self, op: str) -> str:
        return f"{self.scopes[-1]}.{op}" if self.scopes else op

    def owns(self, value: Value) -> bool:
        """Whether ``value`` belongs to the graph being traced (not to an earlier trace)."""
        if value.producer is not None:
            return value.producer.graph is self.graph
        if value.const is not None:
            return self.graph.constants.get(value.name) is value
        return any(value is v for v in self.graph.inputs)

    def name_module_output(self, value: Value, path: str) -> None:
        """Rename ``value`` to module ``path`` if the module's own code (not a child) made it."""
        node = value.producer
        if node is None or self.node_scope.get(id(node)) != path:
            return
        self.graph.rename(value, self.graph.unique_name(path))

    def emit(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> Node:
        """Append ``op`` to the graph at the user's source line; errors carry that line.

        Every error names the op and the input types (inference errors already
        do; attribute errors get the types added here).
        """
        loc = user_location()
        for i, v in enumerate(inputs):
            if not self.owns(v):
                raise TraceError(
                    f"{op}: input {i} %{v.name}: {v.type} belongs to another trace",
                    loc=loc,
                    hint="tensors live only during the trace that made them; "
                    "compute the value inside forward() instead of keeping it",
                )
        names = [name or self._scoped(op)]
        node = self.graph.add(op, list(inputs), attrs, loc=loc, names=names)
        self.node_scope[id(node)] = self.scopes[-1] if self.scopes else ""
        return node

    def wrap(self, node: Node) -> Tensor | list[Tensor]:
        from nanograph.frontend.tensor import Tensor

        outs = [Tensor(v) for v in node.outputs]
        return outs[0] if len(outs) == 1 else outs
