"""The model zoo: small, complete models written in the nanograph DSL.

Each module here is one model: its one-line docstring describes it (``nanograph
zoo`` shows it), ``build(seed=0)`` returns ``(module, ModelSpec)`` with a
symbolic batch ``N`` (and ``S`` for sequences), and ``torch_model()`` returns
the equivalent PyTorch module (imports torch lazily) whose state dict loads
into ours with ``load_state_dict``. Every file also runs as a script: it
builds, traces, prints the IR size and runs once in the reference interpreter.

``MODELS`` maps zoo names to their modules, in the order ``nanograph zoo`` lists them.
"""

from __future__ import annotations

from types import ModuleType

from nanograph.zoo import banded_speech, lenet, pos_tagger, resnet_small, sagan, vit_tiny

MODELS: dict[str, ModuleType] = {
    "lenet": lenet,
    "resnet_small": resnet_small,
    "pos_tagger": pos_tagger,
    "vit_tiny": vit_tiny,
    "sagan": sagan,
    "banded_speech": banded_speech,
}

__all__ = ["MODELS", "banded_speech", "lenet", "pos_tagger", "resnet_small", "sagan", "vit_tiny"]
