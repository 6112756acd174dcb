"""Pass-through modules: ``Flatten``, ``Dropout`` (identity at inference), ``Identity``."""

from __future__ import annotations

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn.module import Module
from nanograph.frontend.tensor import Tensor


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = arguments.axis("Flatten", "start_dim", start_dim)
        self.end_dim = arguments.axis("Flatten", "end_dim", end_dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Identity: nanograph is inference-only, and PyTorch's eval() Dropout passes x through."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = arguments.real("Dropout", "p", p, 0.0, 1.0)  # unused, but checked as in PyTorch

    def forward(self, x: Tensor) -> Tensor:
        return x


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x
