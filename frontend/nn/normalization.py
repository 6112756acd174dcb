"""``BatchNorm2d`` (inference: running statistics) and ``LayerNorm``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError


class BatchNorm2d(Module):
    """Normalizes channel ``c`` as ``(x - running_mean[c]) / sqrt(running_var[c] + eps)``."""

    running_mean: np.ndarray
    running_var: np.ndarray

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = arguments.whole("BatchNorm2d", "num_features", num_features)
        self.eps = arguments.real("BatchNorm2d", "eps", eps, 0.0)
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class LayerNorm(Module):
    """Normalizes over x's trailing dims, which must equal ``normalized_shape`` (as in PyTorch)."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        given: tuple[object, ...] = (
            tuple(normalized_shape)
            if isinstance(normalized_shape, (tuple, list))
            else (normalized_shape,)
        )
        shape = tuple(arguments.whole("LayerNorm", "normalized_shape", d) for d in given)
        if not shape:
            raise AttributeValueError(
                "LayerNorm: normalized_shape=() is empty",
                loc=user_location(),
                hint="give the trailing dims to normalize over, e.g. LayerNorm(d_model)",
            )
        self.normalized_shape = shape
        self.eps = arguments.real("LayerNorm", "eps", eps, 0.0)
        self.weight = Parameter(np.ones(shape, np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
