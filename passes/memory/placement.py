"""What a memory plan says about each tensor: ``TensorPlacement`` and ``MemoryPlan``.

A plan is made for one graph with static shapes (symbolic dims bound) and one
schedule: the graph's node order, step ``i`` being the ``i``-th node. Every
graph input and node output lives in one byte arena (constants do not: they
are read where they are); graph outputs are copied out of it after the last
step, so callers own what they get.

For each tensor (by value name) the plan gives its byte ``offset`` in the
arena, ``nbytes``, and its lifetime ``[first, last]`` in steps (``first`` =
-1 for graph inputs, written before step 0; ``last`` = the last step reading
it, or ``len(steps)`` for graph outputs). How it got its space:

- ``view_of``: an alias op's output (reshape, flatten, squeeze, unsqueeze)
  shares its input's bytes (same offset), extending that buffer's lifetime;
- ``inplace_of``: an op allowed to overwrite an input (``OpDef.inplace``)
  whose input dies at that step writes over it (same offset);
- ``reuses``: otherwise the tensor was placed in bytes that an earlier,
  dead tensor used (the first one it overlaps), or None for fresh space.

``workspaces`` maps a step index to the (offset, nbytes) of scratch space a
kernel asked for (im2col rows, softmax rows, attention blocks), live during
that step only. ``arena_bytes`` is the plan's peak; ``lower_bound`` the most
bytes live at once after the view and in-place decisions (no plan can do
better); ``naive_bytes`` the sum of every tensor's size (one buffer each).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TensorPlacement:
    """Where one tensor lives in the arena, and for how long (see the module docstring)."""

    name: str
    nbytes: int
    offset: int
    first: int
    last: int
    view_of: str | None = None
    inplace_of: str | None = None
    reuses: str | None = None


@dataclass(frozen=True)
class MemoryPlan:
    """Placements by value name, kernel workspaces by step, and the three byte totals."""

    tensors: dict[str, TensorPlacement]
    workspaces: dict[int, tuple[int, int]] = field(default_factory=dict)
    arena_bytes: int = 0
    lower_bound: int = 0
    naive_bytes: int = 0
    alignment: int = 64


__all__ = ["MemoryPlan", "TensorPlacement"]
