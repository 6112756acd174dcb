"""``Conv2d`` over NCHW inputs, weights OIHW (PyTorch's layout)."""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn import init
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError


class Conv2d(Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        in_channels = arguments.whole("Conv2d", "in_channels", in_channels)
        out_channels = arguments.whole("Conv2d", "out_channels", out_channels)
        groups = arguments.whole("Conv2d", "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise AttributeValueError(
                f"Conv2d: in_channels={in_channels} and out_channels={out_channels} "
                f"must both be divisible by groups={groups}",
                loc=user_location(),
                hint="choose groups dividing both channel counts (groups=in_channels is "
                "a depthwise convolution)",
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = arguments.pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = arguments.pair("Conv2d", "stride", stride, 1)
        self.padding = arguments.pair("Conv2d", "padding", padding, 0)
        self.dilation = arguments.pair("Conv2d", "dilation", dilation, 1)
        kh, kw = self.kernel_size
        fan_in = in_channels // groups * kh * kw
        self.weight = Parameter(
            init.fan_in_uniform((out_channels, in_channels // groups, kh, kw), fan_in)
        )
        self.bias = Parameter(init.fan_in_uniform((out_channels,), fan_in)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}"
        )
