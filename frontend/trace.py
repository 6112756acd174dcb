"""``trace(model, spec) -> Graph``: run a model on symbolic inputs and record the graph.

The model is any callable taking one ``Tensor`` per input spec (usually an
``nn.Module``). It may return a tensor, a tuple/list of tensors, or a dict of
them; a dict's keys become the graph's output names, otherwise outputs keep
the names of the values that produce them (``output`` is used for a lone
unnamed value, and ``output_<i>`` for several). Parameters and buffers become
constants named by their state-dict path. The traced graph is verified.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nanograph.frontend.nn.module import Module
from nanograph.frontend.spec import as_model_spec
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import TraceError, Tracer
from nanograph.ir.graph import Graph, Value


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _named_arrays(model: Any) -> tuple[dict[int, str], dict[int, str]]:
    if not isinstance(model, Module):
        return {}, {}
    arrays = {id(p.data): name for name, p in model.named_parameters()}
    arrays.update({id(b): name for name, b in model.named_buffers()})
    paths = {id(m): path for path, m in model.named_modules()}
    return arrays, paths


def _flatten_outputs(result: Any) -> list[tuple[str | None, Tensor]]:
    if isinstance(result, Tensor):
        return [(None, result)]
    if isinstance(result, dict):
        items = list(result.items())
    elif isinstance(result, (tuple, list)):
        items = [(None, r) for r in result]
    else:
        raise TraceError(
            f"the model returned {type(result).__name__}, not tensors",
            hint="return a Tensor, a tuple of Tensors, or a dict of name -> Tensor",
        )
    for key, t in items:
        if not isinstance(t, Tensor):
            raise TraceError(f"output {key or len(items)} is {type(t).__name__}, not a Tensor")
    return items


def _set_outputs(graph: Graph, outputs: list[tuple[str | None, Tensor]]) -> None:
    values: list[Value] = []
    for i, (key, tensor) in enumerate(outputs):
        value = tensor.value
        needs_copy = value.producer is None or any(value is v for v in values)
        if needs_copy:  # an input, a constant, or returned twice: give it its own node
            node = graph.create_node("identity", [value], names=[key or f"output_{i}"])
            graph.append(node)
            value = node.output
        if key is not None and value.name != key:
            graph.rename(value, graph.unique_name(key))
        values.append(value)
    graph.outputs = values


def trace(model: Callable[..., Any], *specs: Any, name: str | None = None) -> Graph:
    """Trace ``model`` on symbolic inputs described by ``specs`` into a verified Graph.

    ``specs``: a ``ModelSpec``, one or more ``InputSpec``, or a list of them.
    Shape and dtype mistakes raise at trace time with the user's source line.
    """
    spec = as_model_spec(specs[0] if len(specs) == 1 else list(specs))
    graph_name = name or _snake(
        type(model).__name__ if isinstance(model, Module) else getattr(model, "__name__", "model")
    )
    graph = Graph(graph_name)
    arrays, paths = _named_arrays(model)
    inputs = [Tensor(graph.add_input(s.name, s.type)) for s in spec]
    with Tracer(graph, arrays, paths):
        result = model(*inputs)
    _set_outputs(graph, _flatten_outputs(result))
    try:
        from nanograph.ir.verify import verify
    except ImportError:
        return graph

    verify(graph)
    return graph
