"""The memory limit: how many bytes one run may need before nanograph refuses it.

Every backend estimates, before it allocates anything for a run, the bytes
that run needs (``memory_estimate``: the reference interpreter and
onnxruntime count the node outputs alive at once, the planned executor its
arena), and refuses with ``ResourceLimitError`` when the estimate is above
the limit. So ``nanograph run lenet --dims N=1000000000`` says what it would
need, which tensor is the largest and how to fix it, instead of dying with
NumPy's ``MemoryError`` (or swapping the machine to a halt).

The limit in force, first match wins:

1. ``ng.compile(..., memory_limit=...)``: for that compiled model only;
2. ``ng.set_memory_limit(...)``: process-wide; its return value is also a
   context manager that puts the previous setting back
   (``with ng.set_memory_limit("1GiB"): ...``);
3. the environment variable ``NANOGRAPH_MEMORY_LIMIT`` (read each time a
   backend checks: the reference and onnxruntime every call, the planned
   executor before it allocates an arena for new sizes);
4. the default: 3/4 of the machine's physical memory (8 GiB where it cannot
   be read).

A limit is a number of bytes: an ``int`` or a string, ``"1000000"``,
``"512MiB"``, ``"4GB"``, ``"2.5GiB"`` (units B, KB, MB, GB, TB, powers of
1000; KiB, MiB, GiB, TiB, powers of 1024; case and a space before the unit
do not matter), or ``"none"``/``"off"`` for no limit. The CLI's
``--memory-limit`` (``run``, ``bench``) takes the same strings. A malformed
value is a ``ConfigError`` naming where it came from and the accepted forms.

The estimates are lower bounds of what a run allocates (each backend states
what it counts), so the limit never refuses a run that would fit, and a run
it lets through may still need somewhat more (an op's temporaries).
Thread safety: the process-wide setting is guarded by a lock; scopes from
``set_memory_limit`` nest when entered and left in order (one thread).
"""

from __future__ import annotations

import enum
import functools
import math
import os
import re
import threading
from collections.abc import Mapping
from types import TracebackType

from nanograph.backends.memory_estimate import MemoryEstimate
from nanograph.ir.errors import ConfigError, ResourceLimitError

ENV_VAR = "NANOGRAPH_MEMORY_LIMIT"
DEFAULT_FRACTION = 0.75
FALLBACK_RAM = 8 * 2**30
ACCEPTED = (
    "a number of bytes (1000000), a size with a unit (512MiB, 4GB, 2.5GiB; units B, KB, MB, "
    "GB, TB, KiB, MiB, GiB, TiB), or none/off for no limit"
)

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*\Z", re.IGNORECASE)
_NO_LIMIT = ("none", "off")

Limit = int | None
"""A resolved limit in bytes; ``None`` is no limit."""


class Inherit(enum.Enum):
    """A setting that defers to the next source of the limit (see the module docstring)."""

    INHERIT = "inherit"


INHERIT = Inherit.INHERIT
Setting = Limit | Inherit


def parse_limit(value: object, source: str) -> Limit:
    """``value`` (an int of bytes, or a string of an accepted form) as bytes, ``None`` for
    no limit; ``ConfigError`` naming ``source`` (where the value came from) otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 1:
            return value
    elif isinstance(value, str):
        if value.strip().lower() in _NO_LIMIT:
            return None
        match = _SIZE.match(value)
        unit = _UNITS.get(match.group(2).lower()) if match else None
        if match is not None and unit is not None:
            size = math.floor(float(match.group(1)) * unit)
            if size >= 1:
                return size
    raise ConfigError(
        f"{source}: {value!r} is not a memory limit",
        loc=source,
        hint=f"give {ACCEPTED}",
    )


def setting_from(value: object, source: str) -> Setting:
    """A runner's ``memory_limit=`` argument: ``None`` inherits, anything else is parsed."""
    return INHERIT if value is None else parse_limit(value, source)


def physical_memory() -> int | None:
    """The machine's physical memory in bytes (``os.sysconf``, read at each call: it is
    cheap, and only refusals and the cached ``default_limit`` ask), or None where it
    cannot be read."""
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return ram if ram > 0 else None


@functools.cache
def default_limit() -> int:
    """3/4 of the physical memory (``os.sysconf``), or of 8 GiB where it cannot be read."""
    return int((physical_memory() or FALLBACK_RAM) * DEFAULT_FRACTION)


@functools.lru_cache(maxsize=8)
def _env_limit(text: str) -> Limit:
    return parse_limit(text, f"environment variable {ENV_VAR}")


class _State:
    lock = threading.Lock()
    setting: tuple[Setting, str] = (INHERIT, "")


def limit_in_force(setting: Setting = INHERIT) -> tuple[Limit, str]:
    """(the limit in bytes or ``None``, where it comes from) for a runner's ``setting``."""
    if setting is not INHERIT:
        return setting, "memory_limit= of compile"
    with _State.lock:
        process, source = _State.setting
    if process is not INHERIT:
        return process, source
    text = os.environ.get(ENV_VAR)
    if text is not None and text.strip():
        return _env_limit(text), ENV_VAR
    return default_limit(), "the default, 3/4 of physical memory"


def memory_limit() -> Limit:
    """The process-wide limit in force now, in bytes (``None``: no limit)."""
    return limit_in_force()[0]


class MemoryLimitScope:
    """What ``set_memory_limit`` returns: as a context manager, leaving it restores the
    setting that was in force before."""

    def __init__(self, previous: tuple[Setting, str]) -> None:
        self._previous = previous

    def __enter__(self) -> MemoryLimitScope:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with _State.lock:
            _State.setting = self._previous


def set_memory_limit(
    limit: int | str | None, *, source: str = "set_memory_limit"
) -> MemoryLimitScope:
    """Set the process-wide limit (bytes, a size string, ``"none"``); ``None`` goes back to
    ``NANOGRAPH_MEMORY_LIMIT`` or the default. ``source`` names the setting in messages
    (the CLI says ``--memory-limit``). ``ConfigError`` for a malformed value."""
    setting = setting_from(limit, source)
    with _State.lock:
        previous, _State.setting = _State.setting, (setting, source)
    return MemoryLimitScope(previous)


def check_memory(
    estimate: MemoryEstimate,
    setting: Setting,
    *,
    graph: str,
    dims: Mapping[str, int],
) -> None:
    """Refuse (``ResourceLimitError``) when ``estimate`` is above the limit in force.

    The message says what (the estimate vs the limit and where the limit comes
    from, the largest tensor, the symbol bindings), where (the largest tensor's
    node ``loc``, else the graph) and how to fix it.
    """
    limit, source = limit_in_force(setting)
    if limit is None or estimate.total <= limit:
        return
    binding = ", ".join(f"{k}={v}" for k, v in dims.items())
    at = f" at {binding}" if binding else ""
    largest = estimate.largest
    biggest = ""
    loc = f"graph {graph}"
    if largest is not None:
        made = f", made by {largest.op}" if largest.op else ""
        size = format_bytes(largest.nbytes)
        biggest = f"; the largest tensor is %{largest.name}: {largest.type} ({size}{made})"
        loc = f"{largest.loc} (%{largest.name} in graph {graph})" if largest.loc else loc
    raise ResourceLimitError(
        f"out of memory limit: graph {graph}{at} needs at least {format_bytes(estimate.total)} "
        f"({estimate.total} bytes) for {estimate.what}, above the memory limit of "
        f"{format_bytes(limit)} ({limit} bytes, from {source}){biggest}; refused before "
        "allocating",
        loc=loc,
        hint=refusal_hint(estimate.total, binding),
    )


def refusal_hint(need: int, binding: str) -> str:
    """How to fix a run that needs ``need`` bytes at ``binding`` (``N=1, S=128``).

    Within the machine's physical memory: smaller dims, or a limit that fits
    the need. Beyond it no limit helps (the run would swap or be killed), so
    only smaller dims are suggested, with the memory there is.
    """
    smaller = f"smaller dims or batch than {binding}" if binding else "smaller dims or batch"
    ram = physical_memory()
    if ram is not None and need > ram:
        return (
            f"use {smaller}: {format_bytes(need)} is more than this machine's "
            f"{format_bytes(ram)} of physical memory, so raising the memory limit (--memory-limit) "
            "would not make it fit"
        )
    suggested = suggest_limit(need)
    return (
        f"use {smaller}, or raise the limit to at least {suggested} (--memory-limit "
        f"{suggested}, {ENV_VAR}={suggested}, ng.compile(..., memory_limit='{suggested}') or "
        f"ng.set_memory_limit('{suggested}'); 'none' lifts it)"
    )


def format_bytes(n: int) -> str:
    """``n`` bytes in binary units for people: ``3.64 TiB``, ``512 B``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def suggest_limit(n: int) -> str:
    """A limit string of whole binary units that is at least ``n`` bytes: ``4TiB``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{-(-n // size)}{unit}"
    return f"{n}B"


__all__ = [
    "ENV_VAR",
    "INHERIT",
    "Limit",
    "MemoryLimitScope",
    "Setting",
    "check_memory",
    "default_limit",
    "format_bytes",
    "limit_in_force",
    "memory_limit",
    "parse_limit",
    "physical_memory",
    "refusal_hint",
    "set_memory_limit",
    "setting_from",
]
