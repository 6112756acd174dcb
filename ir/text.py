"""The IR text form: ``print_graph`` and ``parse_graph``.

One item per line::

    graph NAME(%in: TYPE, ...) -> (TYPE, ...) {
      @const: TYPE                       # data from parse_graph(constants=...)
      @small: TYPE = LITERAL             # <= 16 elements: the data inline
      %out, ... = op(%in, @const, ...) {attr=value, ...} : TYPE, ...  # loc
      return %out, ...
    }

Contracts:
- ``print_graph`` is deterministic and ``print_graph(parse_graph(print_graph(g)))
  == print_graph(g)`` for every graph (inline data round-trips bit-exactly).
- Attributes are sorted by name; one equal to its op's default is left out (the
  parser fills it back). Values by kind: ints, floats as ``repr`` (``inf``,
  ``-inf``, ``nan``), strings and odd names in JSON quotes, ``true``/``false``,
  lists ``[a,b]``, dims as ``str(dim)`` (``N*S``, ``(H-3)//2+1``, ``-1``),
  dtypes by short name.
- A name outside ``[A-Za-z0-9_.]+`` is JSON-quoted: ``%"my value"``.
- The parser builds nodes with the declared types and checks they equal
  inference; every problem raises ``ParseError`` with line, column and what
  was expected.
"""

from __future__ import annotations

from nanograph.ir.text_parse import parse_graph
from nanograph.ir.text_print import (
    INLINE_MAX_ELEMENTS,
    format_array,
    format_attr,
    format_float,
    print_graph,
    quote_name,
)

__all__ = [
    "INLINE_MAX_ELEMENTS",
    "format_array",
    "format_attr",
    "format_float",
    "parse_graph",
    "print_graph",
    "quote_name",
]
