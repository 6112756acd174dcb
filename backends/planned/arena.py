"""``Arena``: one aligned byte buffer for a ``MemoryPlan``, and the fixed views into it.

A plan (``passes/memory/placement.py``) gives each graph input and node
output a byte offset; the arena holds ``plan.arena_bytes`` bytes starting at
an address that is a multiple of ``plan.alignment`` (so every planned offset
is aligned for every dtype), allocated once and never resized. ``view``
makes the array a tensor lives in: ``arena[offset:offset + nbytes]`` viewed
as its dtype and reshaped to its shape, C-contiguous; 0-d and zero-size
tensors are handled (a zero-size view is empty whatever its offset).
``workspace`` is a kernel's scratch at one step, as the plan placed it.

Views are made once, at plan time; a step only ever writes through them, so
a call allocates nothing for intermediates. An arena the machine cannot
allocate (with the memory limit lifted) is a ``ResourceLimitError``, not
NumPy's ``MemoryError``.
"""

from __future__ import annotations

import numpy as np

from nanograph.backends.memory_limit import format_bytes, refusal_hint
from nanograph.ir.errors import InternalError, ResourceLimitError
from nanograph.ir.types import TensorType
from nanograph.passes.memory.placement import MemoryPlan


class Arena:
    """The bytes of one memory plan (see the module docstring)."""

    def __init__(self, plan: MemoryPlan) -> None:
        self.plan = plan
        alignment = max(plan.alignment, 1)
        try:
            raw = np.empty(plan.arena_bytes + alignment, dtype=np.uint8)
        except (MemoryError, ValueError):  # ValueError: more bytes than NumPy can index
            raise ResourceLimitError(
                f"cannot allocate the {format_bytes(plan.arena_bytes)} arena this run "
                "needs: the machine does not have that much free memory (no memory limit "
                "refused it first)",
                hint=refusal_hint(plan.arena_bytes, ""),
            ) from None
        start = -raw.ctypes.data % alignment
        self.buffer = raw[start : start + plan.arena_bytes]

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)

    def view(self, name: str, type: TensorType) -> np.ndarray:
        """The array tensor ``name`` (of static ``type``) lives in."""
        placement = self.plan.tensors.get(name)
        if placement is None or placement.offset < 0:
            raise InternalError(
                f"internal error: the memory plan has no arena bytes for %{name}: {type}",
                hint="the planner must place every graph input and node output; "
                "please report this with the model",
            )
        shape = tuple(d for d in type.shape if isinstance(d, int))
        if len(shape) != type.rank:
            raise InternalError(
                f"internal error: %{name}: {type} is not static; arenas hold static tensors",
                hint="specialize the graph to concrete sizes before planning it",
            )
        dtype = type.dtype.numpy
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return self._bytes(placement.offset, nbytes).view(dtype).reshape(shape)

    def workspace(self, step: int) -> np.ndarray | None:
        """Step ``step``'s kernel scratch (1-D uint8), or None when it asked for none."""
        space = self.plan.workspaces.get(step)
        if space is None or space[1] == 0:
            return None
        return self._bytes(*space)

    def _bytes(self, offset: int, nbytes: int) -> np.ndarray:
        if nbytes == 0:
            return self.buffer[:0]
        if offset + nbytes > self.buffer.nbytes:
            raise InternalError(
                f"internal error: bytes [{offset}, {offset + nbytes}) lie past the end of "
                f"a {self.buffer.nbytes}-byte arena",
                hint="the memory plan is inconsistent; please report this with the model",
            )
        return self.buffer[offset : offset + nbytes]


__all__ = ["Arena"]
