"""The ONNX importer: ``import_onnx(model) -> Graph``.

ONNX models (opsets 13 to 28 of the default domain, plus onnxruntime's
``com.microsoft.MultiHeadAttention``) become the same IR the DSL traces to.
The package is split by concept:

- ``loading``: read a path, bytes or ``ModelProto``; clear errors for
  missing, empty, truncated and invalid files; ``external_data`` loads weights
  kept beside the model, refusing paths that leave its folder;
- ``convert``: the driver (inputs, node order, names, outputs, verification);
  ``unsupported`` lists every op it cannot convert in one error;
- ``builder`` and ``symbolic``: how IR is emitted, with constant folding and
  shape arithmetic folded over symbolic dims (``Shape(x)[0]`` is ``N``);
- ``registry``: one converter per ONNX op with the schema versions it
  handles; the families ``ops_elementwise``, ``ops_linalg``, ``ops_conv``,
  ``ops_norm``, ``ops_reduce``, ``ops_shape``, ``ops_constant`` and
  ``ops_attention`` hold the converters and their version adapters.
"""

from __future__ import annotations

import os

import onnx

from nanograph.frontend.onnx_import.convert import convert
from nanograph.frontend.onnx_import.loading import MAX_OPSET, MIN_OPSET, load_onnx
from nanograph.frontend.onnx_import.registry import CONVERTERS
from nanograph.ir.graph import Graph


def import_onnx(model: str | os.PathLike[str] | onnx.ModelProto | bytes) -> Graph:
    """Import an ONNX model (a path, the file's bytes, or a ``ModelProto``) as a verified Graph.

    Graph inputs and outputs keep their ONNX names and order; every IR node's
    ``loc`` is the ONNX node it came from. Raises ``OnnxLoadError`` for files
    that are not valid ONNX, ``UnsupportedOpError`` for ops, attributes or
    data-dependent shapes the IR cannot represent (all unsupported op types
    listed in one error), and the IR's own errors (``ShapeError``, ...)
    located at the ONNX node where the model contradicts itself.
    """
    return convert(load_onnx(model))


__all__ = ["CONVERTERS", "MAX_OPSET", "MIN_OPSET", "import_onnx"]
