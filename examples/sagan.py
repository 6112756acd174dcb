"""SAGAN-style self-attention block over conv feature maps (attention over H*W positions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor

IMAGE, CHANNELS, WIDTH, NUM_CLASSES = 32, 3, 64, 10
GAMMA_INIT = 0.5  # SAGAN starts at 0 for training; nonzero here so the attention shows


class SelfAttention2d(nn.Module):
    """The self-attention block of Zhang et al., "Self-Attention GANs" (2018).

    With ``f = query(x)``, ``g = key(x)`` (``C/8`` channels each) and
    ``h = value(x)`` (``C`` channels), all ``[N, ., H*W]``:
    ``beta = softmax(f^T g)`` over the last axis (``[N, HW, HW]``: row ``i``
    weighs every position ``j`` for position ``i``), ``o = h beta^T``
    (``o_i = sum_j beta_ij h_j``), and the block returns ``gamma * o + x``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels // 8, 1)
        self.key = nn.Conv2d(channels, channels // 8, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(np.full((1,), GAMMA_INIT, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        f = self.query(x).flatten(2)  # [N, C/8, HW]
        g = self.key(x).flatten(2)  # [N, C/8, HW]
        v = self.value(x).flatten(2)  # [N, C, HW]
        beta = (f.transpose(1, 2) @ g).softmax(-1)  # [N, HW, HW]
        o = (v @ beta.transpose(1, 2)).reshape(n, c, h, w)
        return self.gamma * o + x


class SAGANClassifier(nn.Module):
    """Conv stem to ``WIDTH x 16 x 16``, one ``SelfAttention2d``, global pool, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(CHANNELS, WIDTH // 2, 3, padding=1),
            nn.BatchNorm2d(WIDTH // 2),
            nn.ReLU(),
            nn.Conv2d(WIDTH // 2, WIDTH, 3, stride=2, padding=1),
            nn.BatchNorm2d(WIDTH),
            nn.ReLU(),
        )
        self.attn = SelfAttention2d(WIDTH)
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(WIDTH, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.attn(self.stem(x))).flatten(1))


def build(seed: int = 0) -> tuple[SAGANClassifier, ModelSpec]:
    """The SAGAN block classifier with seeded weights; input ``x: f32[N,3,32,32]``."""
    nn.manual_seed(seed)
    return SAGANClassifier(), ModelSpec([InputSpec("x", ("N", CHANNELS, IMAGE, IMAGE))], {"N": 1})


def torch_model() -> Any:
    """The same network in PyTorch, the attention block written by hand as in SAGAN's code."""
    import torch
    from torch import nn as tnn

    class TorchSelfAttention2d(tnn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.query = tnn.Conv2d(channels, channels // 8, 1)
            self.key = tnn.Conv2d(channels, channels // 8, 1)
            self.value = tnn.Conv2d(channels, channels, 1)
            self.gamma = tnn.Parameter(torch.full((1,), GAMMA_INIT))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            f = self.query(x).view(n, -1, h * w)
            g = self.key(x).view(n, -1, h * w)
            v = self.value(x).view(n, -1, h * w)
            beta = torch.softmax(torch.bmm(f.permute(0, 2, 1), g), dim=-1)
            o = torch.bmm(v, beta.permute(0, 2, 1)).view(n, c, h, w)
            return self.gamma * o + x

    class TorchSAGANClassifier(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = tnn.Sequential(
                tnn.Conv2d(CHANNELS, WIDTH // 2, 3, padding=1),
                tnn.BatchNorm2d(WIDTH // 2),
                tnn.ReLU(),
                tnn.Conv2d(WIDTH // 2, WIDTH, 3, stride=2, padding=1),
                tnn.BatchNorm2d(WIDTH),
                tnn.ReLU(),
            )
            self.attn = TorchSelfAttention2d(WIDTH)
            self.fc = tnn.Linear(WIDTH, NUM_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.attn(self.stem(x)).mean(dim=(2, 3)))

    return TorchSAGANClassifier()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
