"""Graph passes: the pass manager, the pattern rewriter, canonicalization and fusions.

- ``manager``: ``Pass``, ``run_pipeline`` and its instrumented ``PipelineReport``;
- ``records``: ``PassResult``, ``Rewrite``, ``NearMiss``;
- ``pattern`` and ``rewriter``: patterns with captures and reasons, rules,
  and the worklist driver;
- ``canonicalize/`` (O1) and ``fusion/`` (O2): the passes;
- ``pipelines``: which passes each level runs.
"""

from nanograph.passes.manager import Pass, PassRecord, PipelineReport, run_pipeline
from nanograph.passes.pipelines import PIPELINES
from nanograph.passes.records import NearMiss, PassResult, Rewrite

__all__ = [
    "PIPELINES",
    "NearMiss",
    "Pass",
    "PassRecord",
    "PassResult",
    "PipelineReport",
    "Rewrite",
    "run_pipeline",
]
