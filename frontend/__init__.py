"""The nanograph DSL: symbolic tensors, functional ops, ``nn`` modules, ``trace``."""

from nanograph.frontend import functional, nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.trace import trace
from nanograph.frontend.tracer import TraceError

__all__ = ["InputSpec", "ModelSpec", "Tensor", "TraceError", "functional", "nn", "trace"]
