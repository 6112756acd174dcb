"""Canonicalization (level O1): passes that simplify without changing what is computed.

One concept per module, each a ``Pass`` (``passes.pipelines.CANONICALIZE``
runs them in a documented order):

- ``fold_shapes`` (``fold-shapes``): reads of static dims become constants;
- ``simplify`` (``simplify``): the rules of ``identities`` (ops that change
  nothing) and ``chains`` (transpose and reshape chains), to a fixpoint;
- ``fold_constants`` (``fold-constants``): nodes of constants become
  constants, by the op's reference, without duplicating weights;
- ``cse`` (``cse``): equal nodes and equal scalar constants are merged;
- ``dead_code`` (``dce``): what nothing uses is removed.

``node_to_constants`` is what the two folding passes share: replacing a node
by constants named after its outputs, and the records they report.
"""
