"""The pipeline of each optimization level, as visible lists of passes.

- ``O0``: nothing;
- ``O1``: canonicalization (simplifications that change no result);
- ``O2``: O1, then the fusions, then a final clean-up;
- ``O3``: O2 plus layout and memory planning (from the layout issue; until
  then O3 runs exactly O2's passes).

Order matters and is deliberate: see each list's comments.
"""

from __future__ import annotations

from nanograph.passes.canonicalize.dead_code import DEAD_CODE
from nanograph.passes.manager import Pass

CANONICALIZE: tuple[Pass, ...] = (DEAD_CODE,)
FUSIONS: tuple[Pass, ...] = ()

PIPELINES: dict[str, tuple[Pass, ...]] = {
    "O0": (),
    "O1": CANONICALIZE,
    "O2": (*CANONICALIZE, *FUSIONS),
    "O3": (*CANONICALIZE, *FUSIONS),
}

__all__ = ["CANONICALIZE", "FUSIONS", "PIPELINES"]
