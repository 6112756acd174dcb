"""Running one op's reference in the op tests, with its inferred type checked."""

from __future__ import annotations

from typing import Any

import numpy as np

from nanograph.ir.ops import get_op
from nanograph.ir.types import type_of_array


def run(op: str, *arrays: np.ndarray, **attrs: Any) -> Any:
    """The reference output (a list for several outputs); asserts each output has
    exactly the type that ``infer`` gives for these inputs."""
    opdef = get_op(op)
    norm = opdef.make_attrs(attrs)
    outs = opdef.reference(list(arrays), norm)
    assert opdef.infer([type_of_array(a) for a in arrays], norm) == [type_of_array(o) for o in outs]
    return outs[0] if len(outs) == 1 else outs
