"""The pipeline of each optimization level, as visible lists of passes.

- ``O0``: nothing;
- ``O1``: canonicalization (simplifications that change no result);
- ``O2``: O1, then the fusions, then a final clean-up;
- ``O3``: O2 plus layout and memory planning (from the layout issue; until
  then O3 runs exactly O2's passes).

Order matters and is deliberate: see each list's comments.
"""

from __future__ import annotations

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

__all__ = ["CANONICALIZE", "FUSIONS", "PIPELINES"]
