"""``Embedding``: rows of ``weight [num_embeddings, embedding_dim]`` picked by integer ids."""

from __future__ import annotations

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn import init
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.tensor import Tensor


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_embeddings = arguments.whole("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = arguments.whole("Embedding", "embedding_dim", embedding_dim)
        self.weight = Parameter(init.normal((self.num_embeddings, self.embedding_dim), 1.0))

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
