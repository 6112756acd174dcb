"""``trace(model, spec) -> Graph``: run a model on symbolic inputs and record the graph.

The model is any callable taking one ``Tensor`` per input spec (usually an
``nn.Module``). It may return a tensor, a tuple/list of tensors, or a dict of
them; a dict's keys become the graph's output names, otherwise outputs keep
the names of the values that produce them (``output`` is used for a lone
unnamed value, and ``output_<i>`` for several). Parameters and buffers become
constants named by their state-dict path. The traced graph is verified.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import textwrap
from collections.abc import Callable
from typing import Any

from nanograph.frontend.nn.module import Module
from nanograph.frontend.spec import as_model_spec
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import TraceError, Tracer, user_location
from nanograph.ir.dims import SymExpr
from nanograph.ir.graph import Graph, Value


def _snake(name: str) -> str:
    """A class name in snake case: ``TinyCNN`` -> ``tiny_cnn``."""
    # A boundary before an upper-case letter that follows a lower-case letter or digit,
    # or that starts a capitalized word after an acronym (``SAGANBlock`` -> ``sagan_block``).
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _named_arrays(model: Any) -> tuple[dict[int, str], dict[int, str]]:
    if not isinstance(model, Module):
        return {}, {}
    arrays = {id(p.data): name for name, p in model.named_parameters()}
    arrays.update({id(b): name for name, b in model.named_buffers()})
    paths = {id(m): path for path, m in model.named_modules()}
    return arrays, paths


def _return_location(model: Callable[..., Any]) -> str:
    """``file:line`` of the model's ``return`` (its only one), else of its ``def``."""
    fn = model.forward if isinstance(model, Module) else model
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    where = f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    if code.co_name == "<lambda>":
        return where
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return where
    returns = [n for n in ast.walk(tree.body[0]) if isinstance(n, ast.Return)]
    nested = [
        n
        for d in ast.walk(tree.body[0])
        if d is not tree.body[0] and isinstance(d, (ast.FunctionDef, ast.Lambda))
        for n in ast.walk(d)
        if isinstance(n, ast.Return)
    ]
    own = [r for r in returns if r not in nested]
    if len(own) != 1:
        return where
    first = tree.body[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno + own[0].lineno - start}"


def _flatten_outputs(result: Any, model: Callable[..., Any]) -> list[tuple[str | None, Tensor]]:
    hint = "return a Tensor, a tuple or list of Tensors, or a dict of name -> Tensor"
    if isinstance(result, Tensor):
        return [(None, result)]
    if isinstance(result, dict):
        items = list(result.items())
    elif isinstance(result, (tuple, list)):
        items = [(None, r) for r in result]
    else:
        raise TraceError(
            f"the model returned {type(result).__name__} {result!r}, not tensors",
            loc=_return_location(model),
            hint=hint,
        )
    if not items:
        raise TraceError("the model returned no outputs", loc=_return_location(model), hint=hint)
    for i, (key, t) in enumerate(items):
        if not isinstance(t, Tensor):
            which = f"output {key!r}" if key is not None else f"output {i}"
            is_dim = isinstance(t, SymExpr)
            raise TraceError(
                f"the model returned {type(result).__name__}: {which} is "
                f"{type(t).__name__} {t if is_dim else repr(t)}, not a Tensor",
                loc=_return_location(model),
                hint=hint + (" (x.shape holds dims, not tensors)" if is_dim else ""),
            )
        if key is not None and not isinstance(key, str):
            raise TraceError(
                f"output key {key!r} is {type(key).__name__}, not a str",
                loc=_return_location(model),
                hint="name dict outputs with strings",
            )
    return items


def _set_outputs(
    graph: Graph, outputs: list[tuple[str | None, Tensor]], model: Callable[..., Any]
) -> None:
    values: list[Value] = []
    for i, (key, tensor) in enumerate(outputs):
        value = tensor.value
        needs_copy = value.producer is None or any(value is v for v in values)
        if needs_copy:  # an input, a constant, or returned twice: give it its own node
            loc = _return_location(model)
            node = graph.create_node("identity", [value], names=[f"output_{i}"], loc=loc)
            graph.append(node)
            value = node.output
        if key is not None:
            _give_name(graph, value, key, model)
        values.append(value)
    graph.outputs = values


def _give_name(graph: Graph, value: Value, key: str, model: Callable[..., Any]) -> None:
    """Name output ``value`` exactly ``key``, moving an intermediate of that name aside."""
    if value.name == key:
        return
    holder = next((v for v in graph.values() if v.name == key), None)
    if holder is not None:
        if holder.producer is None:
            kind = "a constant" if holder.const is not None else "an input"
            raise TraceError(
                f"output name {key!r} is already the name of {kind} of the graph ({holder.type})",
                loc=_return_location(model),
                hint="choose another key for this output",
            )
        graph.rename(holder, graph.unique_name(key))
    graph.rename(value, key)


def _def_location(fn: Callable[..., Any]) -> str:
    """``file:line`` of ``fn``'s ``def``, or ``""``."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}" if code else ""


def _check_arity(model: Callable[..., Any], names: list[str]) -> None:
    """The model takes one positional argument per input spec (else a TraceError, not Python's
    TypeError from inside the call)."""
    fn = model.forward if isinstance(model, Module) else model
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # not introspectable (a builtin): let the call itself decide
    try:
        signature.bind(*names)
    except TypeError as err:
        raise TraceError(
            f"the model's forward{signature} cannot take the {len(names)} input(s) "
            f"{', '.join(names) or '(none)'}: {err}",
            loc=_def_location(fn) or user_location(),
            hint="give one InputSpec per argument of forward(), in order",
        ) from None


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
    _check_arity(model, [s.name for s in spec])
    inputs = [Tensor(graph.add_input(s.name, s.type)) for s in spec]
    with Tracer(graph, arrays, paths):
        result = model(*inputs)
    _set_outputs(graph, _flatten_outputs(result, model), model)
    try:
        from nanograph.ir.verify import verify
    except ImportError:
        return graph

    verify(graph)
    return graph
