"""Tiny ViT on 3x32x32 images: 4x4 patch conv, cls token, learned positions, 2 pre-norm layers."""

from __future__ import annotations

from typing import Any

from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.nn import init
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor

IMAGE, PATCH, CHANNELS = 32, 4, 3
D_MODEL, HEADS, FF, LAYERS = 64, 4, 128, 2
NUM_CLASSES = 10
TOKENS = (IMAGE // PATCH) ** 2 + 1  # patches plus the cls token


class ViTTiny(nn.Module):
    """Vision transformer (Dosovitskiy et al.), scaled down.

    ``x [N, 3, 32, 32]`` -> patch conv ``[N, D, 8, 8]`` -> tokens ``[N, 64, D]``
    -> prepend the cls token ``[N, 65, D]`` -> + learned positions -> pre-norm
    encoder layers (GELU) -> LayerNorm -> ``head`` on the cls token -> ``[N, 10]``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(CHANNELS, D_MODEL, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(init.normal((1, 1, D_MODEL), 0.02))
        self.pos = nn.LearnedPositionalEncoding(TOKENS, D_MODEL)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                D_MODEL, HEADS, FF, dropout=0.0, activation="gelu", norm_first=True
            )
            for _ in range(LAYERS)
        )
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        cls = F.expand(F.as_tensor(self.cls_token), tokens.shape[0], 1, D_MODEL)
        x = self.pos(F.cat([cls, tokens], dim=1))
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


def build(seed: int = 0) -> tuple[ViTTiny, ModelSpec]:
    """The tiny ViT with seeded weights; input ``x: f32[N,3,32,32]``."""
    nn.manual_seed(seed)
    return ViTTiny(), ModelSpec([InputSpec("x", ("N", CHANNELS, IMAGE, IMAGE))], {"N": 1})


def torch_model() -> Any:
    """The same network in PyTorch (``pos.weight`` is the ``[TOKENS, D]`` position table)."""
    import torch
    from torch import nn as tnn

    class TorchLearnedPositions(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = tnn.Parameter(torch.randn(TOKENS, D_MODEL) * 0.02)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.weight[: x.shape[1]]

    class TorchViTTiny(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = tnn.Conv2d(CHANNELS, D_MODEL, PATCH, stride=PATCH)
            self.cls_token = tnn.Parameter(torch.randn(1, 1, D_MODEL) * 0.02)
            self.pos = TorchLearnedPositions()
            self.layers = tnn.ModuleList(
                tnn.TransformerEncoderLayer(
                    D_MODEL, HEADS, FF, 0.0, "gelu", batch_first=True, norm_first=True
                )
                for _ in range(LAYERS)
            )
            self.norm = tnn.LayerNorm(D_MODEL)
            self.head = tnn.Linear(D_MODEL, NUM_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
            cls = self.cls_token.expand(tokens.shape[0], 1, D_MODEL)
            x = self.pos(torch.cat([cls, tokens], dim=1))
            for layer in self.layers:
                x = layer(x)
            return self.head(self.norm(x)[:, 0])

    return TorchViTTiny()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
