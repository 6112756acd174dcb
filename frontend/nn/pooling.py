"""Pooling modules: ``MaxPool2d``, ``AvgPool2d`` and global average pooling (NCHW)."""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn.module import Module
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError


class MaxPool2d(Module):
    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        window = F.pool_window("MaxPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = window
        self.dilation = arguments.pair("MaxPool2d", "dilation", dilation, 1)
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )


class AvgPool2d(Module):
    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        window = F.pool_window("AvgPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = window
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )


class GlobalAvgPool2d(Module):
    """Mean over H and W: ``[N, C, H, W] -> [N, C, 1, 1]``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.global_avg_pool2d(x)


class AdaptiveAvgPool2d(GlobalAvgPool2d):
    """PyTorch's ``AdaptiveAvgPool2d``; only ``output_size=1`` (global pooling) is supported."""

    def __init__(self, output_size: int | Sequence[int]) -> None:
        super().__init__()
        if output_size not in (1, (1, 1), [1, 1]):
            raise AttributeValueError(
                f"AdaptiveAvgPool2d({output_size!r}) is not supported",
                loc=user_location(),
                hint="use output_size=1 (global average pooling) or AvgPool2d",
            )
