"""PyTorch-like modules of the nanograph DSL (inference only)."""

from nanograph.frontend.nn.activation import GELU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
from nanograph.frontend.nn.attention import MultiHeadAttention
from nanograph.frontend.nn.container import ModuleList, Sequential
from nanograph.frontend.nn.conv import Conv2d
from nanograph.frontend.nn.embedding import Embedding
from nanograph.frontend.nn.init import manual_seed
from nanograph.frontend.nn.linear import Linear
from nanograph.frontend.nn.module import Module, Parameter
from nanograph.frontend.nn.normalization import BatchNorm2d, LayerNorm
from nanograph.frontend.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from nanograph.frontend.nn.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding
from nanograph.frontend.nn.shaping import Dropout, Flatten, Identity
from nanograph.frontend.nn.transformer import TransformerEncoderLayer

__all__ = [
    "GELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2d",
    "Identity",
    "LayerNorm",
    "LearnedPositionalEncoding",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SinusoidalPositionalEncoding",
    "Softmax",
    "Tanh",
    "TransformerEncoderLayer",
    "manual_seed",
]
