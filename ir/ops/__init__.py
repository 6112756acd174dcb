"""The op registry and every op family. Importing this package registers all ops.

Families: ``elementwise`` (math, activations, compare, where, cast),
``reduction`` (reduce_*, argmax), ``linalg`` (matmul), ``nn`` (conv2d, pools,
batch_norm, layer_norm, softmax), ``shape`` and ``slicing`` (reshape, transpose, concat,
split, slice, gather, ...), ``fused`` (linear, fused_conv2d, attention).
"""

from nanograph.ir.ops import elementwise, fused, linalg, nn, reduction, shape, slicing  # noqa: F401
from nanograph.ir.ops.registry import (
    OPS,
    Cost,
    EagerEmitter,
    Emitter,
    OpDef,
    get_op,
    register,
)

__all__ = ["OPS", "Cost", "EagerEmitter", "Emitter", "OpDef", "get_op", "register"]
