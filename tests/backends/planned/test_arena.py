"""``Arena``: aligned bytes for a hand-written memory plan, and the views into them."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.backends.planned.arena import Arena
from nanograph.ir.errors import InternalError
from nanograph.ir.types import TensorType
from nanograph.passes.memory.placement import MemoryPlan, TensorPlacement

F32_2X3 = TensorType.of("f32", (2, 3))


def plan() -> MemoryPlan:
    """a: f32[2,3] at 0, b: i64[] at 64 (then c over a's bytes), z: zero-size; a workspace."""
    tensors = {
        "a": TensorPlacement("a", 24, 0, -1, 1),
        "b": TensorPlacement("b", 8, 64, 0, 2),
        "c": TensorPlacement("c", 24, 0, 2, 3, reuses="a"),
        "z": TensorPlacement("z", 0, 0, 1, 2),
        "k": TensorPlacement("k", 0, -1, 0, 1, view_of="const"),
    }
    return MemoryPlan(tensors, workspaces={1: (128, 40)}, arena_bytes=192, alignment=64)


def test_the_arena_is_aligned_and_as_big_as_the_plan_says() -> None:
    for _ in range(5):  # fresh allocations land at different addresses
        arena = Arena(plan())
        assert arena.buffer.ctypes.data % 64 == 0
        assert arena.nbytes == 192 and arena.buffer.dtype == np.uint8


def test_views_lie_at_their_offsets_with_their_types() -> None:
    arena = Arena(plan())
    a = arena.view("a", F32_2X3)
    b = arena.view("b", TensorType.of("i64", ()))
    c = arena.view("c", F32_2X3)
    assert (a.shape, a.dtype, b.shape, b.dtype) == ((2, 3), np.float32, (), np.int64)
    assert a.flags.c_contiguous and b.flags.c_contiguous
    assert a.ctypes.data == arena.buffer.ctypes.data
    assert b.ctypes.data == arena.buffer.ctypes.data + 64
    a[...] = np.arange(6).reshape(2, 3)
    b[...] = 5
    np.testing.assert_array_equal(c, np.arange(6).reshape(2, 3))  # c reuses a's bytes
    assert not np.shares_memory(a, b) and int(b) == 5


def test_a_zero_size_view_is_empty() -> None:
    z = Arena(plan()).view("z", TensorType.of("f32", (4, 0)))
    assert z.shape == (4, 0) and z.size == 0


def test_the_workspace_is_its_steps_bytes_and_none_elsewhere() -> None:
    arena = Arena(plan())
    ws = arena.workspace(1)
    assert ws is not None and ws.nbytes == 40 and ws.dtype == np.uint8
    assert ws.ctypes.data == arena.buffer.ctypes.data + 128
    assert arena.workspace(0) is None


def test_a_tensor_the_plan_did_not_place_is_an_internal_error() -> None:
    arena = Arena(plan())
    for name in ("missing", "k"):
        with pytest.raises(InternalError, match=f"no arena bytes for %{name}"):
            arena.view(name, F32_2X3)


def test_a_view_past_the_end_is_an_internal_error() -> None:
    arena = Arena(plan())
    with pytest.raises(InternalError, match="past the end of a 192-byte arena"):
        arena.view("b", TensorType.of("f32", (64,)))


def test_a_symbolic_type_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="is not static"):
        Arena(plan()).view("a", TensorType.of("f32", ("N", 3)))
