"""Printing the IR text form (the format and its contracts: ``nanograph.ir.text``).

``print_graph`` is deterministic; ``format_attr``/``format_array`` write the
values that ``text_parse`` reads back exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from nanograph.ir.attrs import REQUIRED, AttrSpec
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import OPS
from nanograph.ir.types import DType

INLINE_MAX_ELEMENTS = 16
BARE_NAME = re.compile(r"[A-Za-z0-9_.]+")  # names printed without quotes


# printing ---------------------------------------------------------------------------
def quote_name(name: str) -> str:
    """``name`` as written after ``%``/``@``: bare if it is ``[A-Za-z0-9_.]+``, else JSON."""
    return name if BARE_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def format_float(x: float) -> str:
    """Exact text of a Python float: ``repr``, with ``inf``, ``-inf`` and ``nan``."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def format_attr(kind: str, value: Any) -> str:
    """Text of an attribute value of ``kind`` (see the module docstring)."""
    if kind in ("ints", "floats", "dims"):
        return "[" + ",".join(format_attr(kind[:-1], v) for v in value) + "]"
    if kind == "float":
        return format_float(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "str":
        return json.dumps(value, ensure_ascii=False)
    if kind in ("int", "dim", "dtype"):
        return str(value)
    return repr(value)


def _format_attrs(node: Node) -> str:
    """`` {a=1, b=[2,3]}`` without defaults, or ``""``. Attributes that no spec knows
    (a broken graph being printed for a message) are shown with ``repr``."""
    opdef = OPS.get(node.op)
    specs: Mapping[str, AttrSpec] = opdef.attrs if opdef is not None else {}
    parts = []
    for name in sorted(node.attrs):
        spec = specs.get(name)
        text = format_attr(spec.kind if spec else "?", node.attrs[name])
        if spec is not None and spec.default not in (REQUIRED, None):
            default = spec.normalize(node.op, name, spec.default)
            if format_attr(spec.kind, default) == text:
                continue
        parts.append(f"{name}={text}")
    return " {" + ", ".join(parts) + "}" if parts else ""


def _format_scalar(x: Any, dtype: DType) -> str:
    if dtype == DType.bool:
        return "true" if x else "false"
    if dtype.is_int:
        return str(int(x))
    if not np.isfinite(x):
        return format_float(float(x))
    short = str(x)  # numpy's shortest text for this precision
    if np.array(float(short), dtype=dtype.numpy).tobytes() == np.array(x).tobytes():
        return short
    return repr(float(x))


def format_array(array: np.ndarray, dtype: DType) -> str:
    """Nested-list literal of ``array`` that reads back bit-exactly in ``dtype``."""
    if array.ndim == 0:
        return _format_scalar(array[()], dtype)
    return "[" + ", ".join(format_array(sub, dtype) for sub in array) + "]"


def _format_loc(loc: str) -> str:
    if not loc:
        return ""
    if not loc.isprintable() or loc != loc.strip() or loc.startswith('"'):
        loc = json.dumps(loc, ensure_ascii=False)
    return f"  # {loc}"


def print_graph(graph: Graph) -> str:
    """The text form of ``graph`` (ends with a newline)."""

    def ref(v: Value) -> str:
        sigil = "@" if graph.constants.get(v.name) is v else "%"
        return sigil + quote_name(v.name)

    params = ", ".join(f"%{quote_name(v.name)}: {v.type}" for v in graph.inputs)
    results = ", ".join(str(v.type) for v in graph.outputs)
    lines = [f"graph {quote_name(graph.name)}({params}) -> ({results}) {{"]
    for name, c in graph.constants.items():
        line = f"  @{quote_name(name)}: {c.type}"
        if c.const is not None and c.const.size <= INLINE_MAX_ELEMENTS:
            line += " = " + format_array(c.const, c.type.dtype)
        lines.append(line)
    for node in graph.nodes:
        outs = ", ".join(ref(v) for v in node.outputs)
        ins = ", ".join(ref(v) for v in node.inputs)
        types = ", ".join(str(v.type) for v in node.outputs)
        attrs = _format_attrs(node)
        lines.append(f"  {outs} = {node.op}({ins}){attrs} : {types}{_format_loc(node.loc)}")
    lines.append(("  return " + ", ".join(ref(v) for v in graph.outputs)).rstrip())
    lines.append("}")
    return "\n".join(lines) + "\n"
