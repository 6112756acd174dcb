"""The pipeline of each optimization level, as visible lists of passes.

- ``O0``: nothing;
- ``O1``: canonicalization (simplifications that change no result);
- ``O2``: O1, then the fusions, then a final clean-up;
- ``O3``: O2 plus layout and memory planning; on the NumPy backends
  ``pipeline_for`` adds ``NUMPY_LAYOUT`` (the ONNX backends keep NCHW).

Order matters and is deliberate: see each list's comments.
"""

from __future__ import annotations

from nanograph.ir.errors import ConfigError
from nanograph.passes.canonicalize.cse import CSE
from nanograph.passes.canonicalize.dead_code import DEAD_CODE
from nanograph.passes.canonicalize.fold_constants import FOLD_CONSTANTS
from nanograph.passes.canonicalize.fold_shapes import FOLD_SHAPES
from nanograph.passes.canonicalize.simplify import SIMPLIFY
from nanograph.passes.fusion.attention import FUSE_ATTENTION
from nanograph.passes.fusion.conv_activation import FUSE_CONV_ACTIVATION
from nanograph.passes.fusion.conv_batch_norm import FOLD_CONV_BN
from nanograph.passes.fusion.gelu import RECOGNIZE_GELU
from nanograph.passes.fusion.layer_norm import RECOGNIZE_LAYER_NORM
from nanograph.passes.fusion.linear import FUSE_LINEAR
from nanograph.passes.fusion.qkv_projection import FUSE_QKV
from nanograph.passes.layout.plan_layout import PLAN_LAYOUT
from nanograph.passes.manager import Pass

# fold-shapes first: static dims read from shapes become constants, for everything after.
# simplify before fold-constants: a no-op on a weight (a slice covering it, a reshape to its
# own shape) is removed, not copied into a new constant, and the weight keeps its name; a
# transpose chain on a weight is folded once. fold-constants then evaluates what only
# depends on constants (transpose(@W) of a Linear). cse after both: it merges the equal
# scalars folding and the frontends made, and the equal nodes simplify exposed (two
# chains collapsed to the same transpose). dce last removes what the others left unused.
CANONICALIZE: tuple[Pass, ...] = (FOLD_SHAPES, SIMPLIFY, FOLD_CONSTANTS, CSE, DEAD_CODE)
# The fusions, after O1 (which folds transpose(@W), so weights are constants they can read):
# - recognize-gelu and recognize-layer-norm first: they rebuild single ops from importers'
#   decompositions, which the fusions below then absorb (a gelu folds into linear/conv);
# - fold-conv-bn before fuse-conv-activation: a batch norm after an activated conv cannot
#   fold;
# - fuse-linear before fuse-qkv: biases and activations must be inside each projection
#   before projections sharing an input are concatenated (else the split would sit between
#   matmul and add, and nothing fuses through it);
# - fuse-attention last: it reads q/k/v from whatever the projections became (the split of
#   the fused q/k/v) and absorbs the head split/merge around them;
# - cse and dce clean up what the fusions left (scale constants, folded weights' originals).
FUSIONS: tuple[Pass, ...] = (
    RECOGNIZE_GELU,
    RECOGNIZE_LAYER_NORM,
    FOLD_CONV_BN,
    FUSE_CONV_ACTIVATION,
    FUSE_LINEAR,
    FUSE_QKV,
    FUSE_ATTENTION,
    CSE,
    DEAD_CODE,
)

PIPELINES: dict[str, tuple[Pass, ...]] = {
    "O0": (),
    "O1": CANONICALIZE,
    "O2": (*CANONICALIZE, *FUSIONS),
    "O3": (*CANONICALIZE, *FUSIONS),
}

# Layout planning for the NumPy backends at O3 (ONNX export and onnxruntime keep NCHW, which
# their Conv expects): plan-layout switches regions to NHWC where the measured costs say it
# pays; simplify then cancels a boundary transpose against an adjacent inverse one (an
# NHWC model's own transpose to NCHW), and dce removes what that leaves unused.
NUMPY_LAYOUT: tuple[Pass, ...] = (PLAN_LAYOUT, SIMPLIFY, DEAD_CODE)
NUMPY_BACKENDS = ("numpy", "numpy-ref")
"""The backends whose O3 pipeline adds ``NUMPY_LAYOUT``."""


def pipeline_for(level: str, backend: str) -> tuple[Pass, ...]:
    """The passes ``level`` runs for ``backend``: ``PIPELINES[level]``, plus
    ``NUMPY_LAYOUT`` at O3 on the NumPy backends; ``ConfigError`` for an unknown level."""
    if level not in PIPELINES:
        raise ConfigError(
            f"unknown optimization level {level!r}",
            hint=f"use one of {', '.join(PIPELINES)}",
        )
    if level == "O3" and backend in NUMPY_BACKENDS:
        return (*PIPELINES[level], *NUMPY_LAYOUT)
    return PIPELINES[level]


__all__ = ["CANONICALIZE", "FUSIONS", "NUMPY_BACKENDS", "NUMPY_LAYOUT", "PIPELINES", "pipeline_for"]
