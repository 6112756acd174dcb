"""The tracer: records DSL operations on symbolic tensors as nodes of a Graph.

One ``Tracer`` is active while ``trace`` runs (a context variable, so nested
or concurrent traces in other threads do not mix). It knows:
- the graph being built;
- the module scope stack, so nodes get readable names (``layers.0.attn.q_proj``);
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

from nanograph.ir.errors import NanographError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.types import DType

if TYPE_CHECKING:
    from nanograph.frontend.tensor import Tensor

_FRONTEND_DIR = os.path.dirname(os.path.realpath(__file__))
_CURRENT: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("tracer", default=None)


class TraceError(NanographError):
    """The DSL was used outside ``trace`` or with something it cannot record."""


def user_location() -> str:
    """``file:line`` of the innermost frame outside nanograph's frontend package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith(_FRONTEND_DIR + os.sep):
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def current_tracer() -> Tracer:
    tracer = _CURRENT.get()
    if tracer is None:
        raise TraceError(
            "symbolic tensors can only be used while a model is being traced",
            loc=user_location(),
            hint="call ng.trace(model, spec) and use the tensors it passes to forward()",
        )
    return tracer


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
        self.module_paths = dict(module_paths or {})
        self._array_names = dict(named_arrays or {})
        self._constants: dict[int, Value] = {}
        self._keepalive: list[Any] = []
        self._token: contextvars.Token[Tracer | None] | None = None

    def __enter__(self) -> Tracer:
        if _CURRENT.get() is not None:
            raise TraceError("trace() was called while another trace is running in this thread")
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
        if not self.scopes:
            return op
        scope = self.scopes[-1]
        return scope if self.graph.unique_name(scope) == scope else f"{scope}.{op}"

    def emit(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> Node:
        """Append ``op`` to the graph at the user's source line; errors carry that line."""
        loc = user_location()
        return self.graph.add(op, list(inputs), attrs, loc=loc, names=[name or self._scoped(op)])

    def wrap(self, node: Node) -> Tensor | list[Tensor]:
        from nanograph.frontend.tensor import Tensor

        outs = [Tensor(v) for v in node.outputs]
        return outs[0] if len(outs) == 1 else outs
