"""nanograph.ir: the typed graph IR.

Dims and types (``Dim``, ``SymExpr``, ``TensorType``, ``DType``), the graph
(``Value``, ``Node``, ``Graph``), the op registry (``OPS``, ``get_op``), the
verifier, the text form and specialization. Modules inside ``nanograph.ir``
import each other by submodule (``nanograph.ir.types``), never from this
package, so this file can import them in any order.
"""

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim, SymExpr, parse_dim
from nanograph.ir.errors import (
    AttributeValueError,
    DTypeError,
    InputError,
    NanographError,
    ParseError,
    ShapeError,
    UnknownOpError,
    VerificationError,
)
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import OPS, OpDef, get_op
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.types import DType, TensorType
from nanograph.ir.verify import verify

__all__ = [
    "OPS",
    "AttrSpec",
    "AttributeValueError",
    "Attrs",
    "DType",
    "DTypeError",
    "Dim",
    "Graph",
    "InputError",
    "NanographError",
    "Node",
    "OpDef",
    "ParseError",
    "ShapeError",
    "SymExpr",
    "TensorType",
    "UnknownOpError",
    "Value",
    "VerificationError",
    "get_op",
    "graph_symbols",
    "parse_dim",
    "parse_graph",
    "print_graph",
    "specialize",
    "verify",
]
