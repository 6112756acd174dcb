"""``Linear``: ``y = x @ weight.T + bias`` with PyTorch's layout ``weight [out, in]``."""

from __future__ import annotations

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn import init
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.tensor import Tensor


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = arguments.whole("Linear", "in_features", in_features)
        self.out_features = arguments.whole("Linear", "out_features", out_features)
        self.weight = Parameter(init.fan_in_uniform((out_features, in_features), in_features))
        self.bias = Parameter(init.fan_in_uniform((out_features,), in_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"
