"""Small ResNet on 3x32x32 images: BasicBlocks with BatchNorm, stages 16/32/64, global pool."""

from __future__ import annotations

from typing import Any

from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor

STAGES = (16, 32, 64)  # channels per stage; every stage after the first halves H and W
BLOCKS_PER_STAGE = 2


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, as in torchvision.

    The shortcut is the identity, or a 1x1 strided conv + BatchNorm
    (``downsample``) where the stride or the channel count changes.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNetSmall(nn.Module):
    """3x3 stem, ``BLOCKS_PER_STAGE`` BasicBlocks per stage, global average pool, linear head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, STAGES[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGES[0])
        in_ch = STAGES[0]
        for i, ch in enumerate(STAGES):
            blocks = []
            for j in range(BLOCKS_PER_STAGE):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(in_ch, ch, stride))
                in_ch = ch
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(STAGES[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(len(STAGES)):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.pool(x).flatten(1))


def build(seed: int = 0) -> tuple[ResNetSmall, ModelSpec]:
    """The small ResNet with seeded weights; input ``x: f32[N,3,32,32]``."""
    nn.manual_seed(seed)
    return ResNetSmall(), ModelSpec([InputSpec("x", ("N", 3, 32, 32))], {"N": 1})


def torch_model() -> Any:
    """The same network in PyTorch (torchvision's names: ``layer1.0.conv1``, ``downsample.0``)."""
    import torch
    from torch import nn as tnn

    class TorchBasicBlock(tnn.Module):
        def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(out_ch)
            self.conv2 = tnn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(out_ch)
            self.downsample: tnn.Module | None = None
            if stride != 1 or in_ch != out_ch:
                self.downsample = tnn.Sequential(
                    tnn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                    tnn.BatchNorm2d(out_ch),
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return torch.relu(out + shortcut)

    class TorchResNetSmall(tnn.Module):
        def __init__(self, num_classes: int = 10) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(3, STAGES[0], 3, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(STAGES[0])
            in_ch = STAGES[0]
            for i, ch in enumerate(STAGES):
                blocks = []
                for j in range(BLOCKS_PER_STAGE):
                    blocks.append(TorchBasicBlock(in_ch, ch, 2 if i > 0 and j == 0 else 1))
                    in_ch = ch
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.fc = tnn.Linear(STAGES[-1], num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.bn1(self.conv1(x)))
            for i in range(len(STAGES)):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(x.mean(dim=(2, 3)))

    return TorchResNetSmall()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
