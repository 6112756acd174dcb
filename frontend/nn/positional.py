"""Positional encodings added to ``[N, S, E]`` sequences.

- ``SinusoidalPositionalEncoding``: the fixed table of "Attention is all you
  need", ``pe[p, 2i] = sin(p / 10000^(2i/E))``, ``pe[p, 2i+1] = cos(...)``;
  a non-persistent buffer (not in the state dict), as is usual in PyTorch code.
- ``LearnedPositionalEncoding``: a learned ``weight [max_len, E]``.
Both add rows ``0..S-1``; ``S`` may be symbolic and must not exceed ``max_len``.
"""

from __future__ import annotations

import numpy as np

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn import init
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import ShapeError


def sinusoidal_table(max_len: int, dim: int) -> np.ndarray:
    """``[max_len, dim]`` float32 sinusoidal position table."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    freq = np.exp(-np.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((max_len, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[: dim // 2])
    return table.astype(np.float32)


def _add_rows(x: Tensor, table: object, max_len: int) -> Tensor:
    if x.ndim != 3:
        raise ShapeError(
            f"positional encoding: x {x.value.type} must be [N, S, E]",
            loc=user_location(),
            hint="add the batch axis (x.unsqueeze(0)) or reshape to [N, S, E]",
        )
    s = x.shape[1]
    if isinstance(s, int) and s > max_len:
        raise ShapeError(
            f"positional encoding: x {x.value.type} has sequence length {s}, more than the "
            f"table's max_len={max_len}",
            loc=user_location(),
            hint=f"build the encoding with max_len >= {s}",
        )
    return x + F.as_tensor(table)[:s]


class SinusoidalPositionalEncoding(Module):
    pe: np.ndarray

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.max_len = arguments.whole("SinusoidalPositionalEncoding", "max_len", max_len)
        d_model = arguments.whole("SinusoidalPositionalEncoding", "d_model", d_model)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return _add_rows(x, self.pe, self.max_len)


class LearnedPositionalEncoding(Module):
    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = arguments.whole("LearnedPositionalEncoding", "max_len", max_len)
        d_model = arguments.whole("LearnedPositionalEncoding", "d_model", d_model)
        self.weight = Parameter(init.normal((max_len, d_model), 0.02))

    def forward(self, x: Tensor) -> Tensor:
        return _add_rows(x, self.weight, self.max_len)
