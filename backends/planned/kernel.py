"""The executor's kernel contract: ``Kernel`` (run into given outputs, say the scratch needed).

A kernel computes one node into preallocated output arrays:

    kernel.run(inputs, attrs, outputs, workspace) -> None

- ``inputs``: the node's input arrays (arena views, constants or graph
  inputs), C-contiguous, of exactly the node's input types;
- ``outputs``: C-contiguous arrays of exactly the node's output types to write
  into (arena views). When the memory plan runs the node in place,
  ``outputs[0]`` IS one of the ``inputs`` (an index in the op's
  ``OpDef.inplace``): a kernel registered with ``inplace_safe=True`` must give
  the right result then; the planner never runs a kernel in place otherwise;
- ``workspace``: a 1-D uint8 array of at least ``workspace_bytes(...)``
  bytes (None when that is 0), scratch that lives for this call only; view it
  with ``workspace[:n].view(np.float32)``;
- it must not allocate arrays that grow with the batch (allocation-free
  steady state is a tested property of the executor), must not keep
  references to any of its arguments, and must match the op's reference
  (``nanograph.ir.ops``) within the tolerances its tests state.

``workspace_bytes(input_types, output_types, attrs) -> int`` is evaluated at
plan time with static shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.types import TensorType

RunFn = Callable[[Sequence[np.ndarray], Attrs, Sequence[np.ndarray], np.ndarray | None], None]
WorkspaceFn = Callable[[Sequence[TensorType], Sequence[TensorType], Attrs], int]


def no_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    """For kernels that need no scratch."""
    return 0


@dataclass(frozen=True)
class Kernel:
    """One op's executor kernel (see the module docstring)."""

    op: str
    run: RunFn
    workspace_bytes: WorkspaceFn = no_workspace
    inplace_safe: bool = False


__all__ = ["Kernel", "RunFn", "WorkspaceFn", "no_workspace"]
