"""LeNet-5 on 1x28x28 images: two 5x5 conv + ReLU + max-pool stages, then fc 120-84-10."""

from __future__ import annotations

from typing import Any

from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor


class LeNet(nn.Module):
    """LeCun et al.'s LeNet-5 with ReLU and max-pooling (the common modern variant)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)  # 28x28 -> 28x28
        self.conv2 = nn.Conv2d(6, 16, 5)  # 14x14 -> 10x10
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def build(seed: int = 0) -> tuple[LeNet, ModelSpec]:
    """LeNet-5 with seeded weights; input ``x: f32[N,1,28,28]``."""
    nn.manual_seed(seed)
    return LeNet(), ModelSpec([InputSpec("x", ("N", 1, 28, 28))], {"N": 1})


def torch_model() -> Any:
    """The same network in PyTorch (same parameter names and layouts)."""
    import torch
    from torch import nn as tnn

    class TorchLeNet(tnn.Module):
        def __init__(self, num_classes: int = 10) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.pool = tnn.MaxPool2d(2)
            self.fc1 = tnn.Linear(16 * 5 * 5, 120)
            self.fc2 = tnn.Linear(120, 84)
            self.fc3 = tnn.Linear(84, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(torch.relu(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            x = x.flatten(1)
            x = torch.relu(self.fc1(x))
            x = torch.relu(self.fc2(x))
            return self.fc3(x)

    return TorchLeNet()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
