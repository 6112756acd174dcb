"""``assign_offsets``: byte offsets for blocks with lifetimes, so that live blocks never overlap.

A ``Block`` is ``size`` bytes needed from step ``first`` to step ``last``
(inclusive). Two blocks *conflict* when their lifetimes share a step; the
contract of ``assign_offsets(blocks, alignment)``:

- conflicting blocks get disjoint byte ranges ``[offset, offset + size')``,
  ``size'`` being ``size`` rounded up to ``alignment`` (the padding belongs to
  the block);
- every offset is a multiple of ``alignment``;
- the peak (the largest ``offset + size'``) is the smallest that a few
  greedy strategies find; it is never below the lower bound
  (``peak_live_bytes``: the most bytes live at one step) and often equals it.

Finding the best offsets is NP-hard (dynamic storage allocation), so this
runs the greedy placements that work well for inference graphs and keeps the
best (ties go to the earlier strategy, so results are deterministic):

- *by size*: largest block first (ties: earlier ``first``), each into a gap
  between the conflicting blocks already placed: the smallest gap that fits
  (best fit) or the lowest (first fit), else above them all;
- *by breadth*: the steps where the most bytes are live first; at each, its
  blocks not yet placed, largest first (TensorFlow Lite's "greedy by
  breadth"), best fit;
- *by size x lifetime*, and *by size with the latest end first* (ties),
  best fit: these pack long-lived streams (a transformer's residual) low.

Cost: O(S * B^2) for S strategies and B blocks in the worst case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """``size`` bytes live from step ``first`` to step ``last``, both included."""

    size: int
    first: int
    last: int


Order = Callable[[Sequence[Block], int], list[int]]


def round_up(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return (n + alignment - 1) // alignment * alignment


def peak_live_bytes(blocks: Sequence[Block], alignment: int) -> int:
    """The most bytes (sizes rounded up) live at one step: no placement can use less."""
    events: list[tuple[int, int]] = []
    for b in blocks:
        events += [
            (b.first, round_up(b.size, alignment)),
            (b.last + 1, -round_up(b.size, alignment)),
        ]
    live = peak = 0
    for _, delta in sorted(events):  # at one step, ends (negative) come before starts
        live += delta
        peak = max(peak, live)
    return peak


def by_size(blocks: Sequence[Block], alignment: int) -> list[int]:
    """Block indices, largest first; ties by start step, then index."""
    return sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, blocks[i].first, i))


def by_area(blocks: Sequence[Block], alignment: int) -> list[int]:
    """Block indices, largest size x lifetime first (long-lived big blocks settle low)."""
    return sorted(
        range(len(blocks)),
        key=lambda i: (-blocks[i].size * (blocks[i].last - blocks[i].first + 1), i),
    )


def by_size_latest_end(blocks: Sequence[Block], alignment: int) -> list[int]:
    """Block indices, largest first; ties by the later end, so a residual stream goes first."""
    return sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, -blocks[i].last, i))


def by_breadth(blocks: Sequence[Block], alignment: int) -> list[int]:
    """Block indices: those live at the fullest step first (largest first), then the next."""
    if not blocks:
        return []
    start = min(b.first for b in blocks)
    steps = max(b.last for b in blocks) - start + 1
    delta = [0] * (steps + 1)
    for b in blocks:
        delta[b.first - start] += round_up(b.size, alignment)
        delta[b.last - start + 1] -= round_up(b.size, alignment)
    live, running = [], 0
    for d in delta[:steps]:
        running += d
        live.append(running)
    rank = [0] * steps  # rank[step]: 0 for the fullest step (ties: the earlier step)
    for position, step in enumerate(sorted(range(steps), key=lambda s: (-live[s], s))):
        rank[step] = position

    def key(i: int) -> tuple[int, int, int]:
        b = blocks[i]
        return (min(rank[b.first - start : b.last - start + 1]), -b.size, i)

    return sorted(range(len(blocks)), key=key)


def place_in_order(
    blocks: Sequence[Block], order: list[int], alignment: int, best_fit: bool
) -> list[int]:
    """Offsets placing ``blocks`` in ``order``, each in a gap beside its conflicting blocks
    (the smallest gap that fits if ``best_fit``, else the lowest), or above them all."""
    offsets = [-1] * len(blocks)
    placed: list[int] = []
    for i in order:
        b = blocks[i]
        size = round_up(b.size, alignment)
        live = sorted(
            (j for j in placed if blocks[j].first <= b.last and b.first <= blocks[j].last),
            key=lambda j: offsets[j],
        )
        chosen, chosen_gap, cursor = -1, 0, 0
        for j in live:
            gap = offsets[j] - cursor
            if gap >= size and (chosen < 0 or (best_fit and gap < chosen_gap)):
                chosen, chosen_gap = cursor, gap
            cursor = max(cursor, offsets[j] + round_up(blocks[j].size, alignment))
        offsets[i] = chosen if chosen >= 0 else cursor
        if size:  # an empty block holds no bytes: it splits no gap
            placed.append(i)
    return offsets


STRATEGIES: tuple[tuple[str, Order, bool], ...] = (
    ("size, best fit", by_size, True),
    ("size, first fit", by_size, False),
    ("breadth, best fit", by_breadth, True),
    ("size x lifetime, best fit", by_area, True),
    ("size, latest end first, best fit", by_size_latest_end, True),
)
"""(name, order, best fit?) of each greedy placement tried, in order of preference."""


def peak_of(blocks: Sequence[Block], offsets: Sequence[int], alignment: int) -> int:
    """The arena size the offsets need: the largest ``offset + size'``."""
    ends = (o + round_up(b.size, alignment) for b, o in zip(blocks, offsets, strict=True))
    return max(ends, default=0)


def assign_offsets(blocks: Sequence[Block], alignment: int) -> list[int]:
    """Offsets for ``blocks`` (see the module docstring): the best of ``STRATEGIES``."""
    bound = peak_live_bytes(blocks, alignment)
    best: list[int] = []
    best_peak = -1
    for _, order, best_fit in STRATEGIES:
        offsets = place_in_order(blocks, order(blocks, alignment), alignment, best_fit)
        peak = peak_of(blocks, offsets, alignment)
        if best_peak < 0 or peak < best_peak:
            best, best_peak = offsets, peak
        if best_peak == bound:  # optimal: no strategy can do better
            break
    return best


__all__ = [
    "STRATEGIES",
    "Block",
    "assign_offsets",
    "peak_live_bytes",
    "peak_of",
    "place_in_order",
    "round_up",
]
