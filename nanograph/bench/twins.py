"""The PyTorch peers: a zoo model's twin carrying our weights, run eagerly or exported to ONNX.

Every target of a run uses the same weights: the nanograph model's seeded
ones. The zoo's twins are written so that *their* state dict loads into
*ours*; ``twin_state`` is the reverse direction: same names and layouts,
except that ``torch.nn.MultiheadAttention`` packs the query, key and value
projections into ``in_proj_weight``/``in_proj_bias``, which are concatenated
from our ``q_proj``/``k_proj``/``v_proj`` (in that order, as PyTorch packs them).
``num_batches_tracked`` counters (training state) are left as they are;
any other key of the twin that ours lacks is an error.

torch is imported inside these functions, so importing this module never
needs it; an ``ImportError`` from them means "not installed".
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from nanograph.ir.errors import ConfigError

_PACKED = ("q_proj", "k_proj", "v_proj")
TORCH_OPSET = 17


def twin_state(ours: Mapping[str, np.ndarray], twin_keys: Iterable[str]) -> dict[str, np.ndarray]:
    """Our state dict under the twin's keys (see the module docstring)."""
    state: dict[str, np.ndarray] = {}
    missing = []
    for key in twin_keys:
        prefix, _, leaf = key.rpartition(".")
        prefix = f"{prefix}." if prefix else ""
        if leaf == "num_batches_tracked":
            continue
        if leaf in ("in_proj_weight", "in_proj_bias"):
            kind = leaf.removeprefix("in_proj_")
            parts = [f"{prefix}{name}.{kind}" for name in _PACKED]
            if all(p in ours for p in parts):
                state[key] = np.concatenate([ours[p] for p in parts])
                continue
        if key in ours:
            state[key] = ours[key]
        else:
            missing.append(key)
    if missing:
        raise ConfigError(
            f"the PyTorch twin has parameters the nanograph model lacks: {', '.join(missing)}",
            hint="the zoo model's torch_model() must mirror build()'s module names",
        )
    return state


def load_twin(zoo_module: ModuleType, ours: Mapping[str, np.ndarray]) -> Any:
    """``zoo_module.torch_model()`` in eval mode carrying ``ours`` (our model's state dict)."""
    import torch

    twin = zoo_module.torch_model()
    keys = list(twin.state_dict())
    tensors = {
        k: torch.from_numpy(np.array(v, copy=True)) for k, v in twin_state(ours, keys).items()
    }
    result = twin.load_state_dict(tensors, strict=False)
    left = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if left or result.unexpected_keys:
        unmatched = ", ".join(left or result.unexpected_keys)
        raise ConfigError(f"our weights do not fill the PyTorch twin: {unmatched} unmatched")
    return twin.eval()


def eager_call(twin: Any, feeds: Mapping[str, np.ndarray]) -> Any:
    """A no-argument call running the twin under ``inference_mode`` on ``feeds`` (in order).

    The inputs become tensors once, here (``from_numpy`` shares memory); the
    call returns the outputs as NumPy arrays, a list in the model's output order.
    """
    import torch

    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in feeds.values())

    def call() -> list[np.ndarray]:
        with torch.inference_mode():
            result = twin(*args)
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        return [t.numpy() for t in outputs]

    return call


def export_twin(twin: Any, feeds: Mapping[str, np.ndarray], batch_inputs: Sequence[str]) -> bytes:
    """PyTorch's classic ONNX export of ``twin`` (opset 17), axis 0 dynamic for ``batch_inputs``.

    Exported outside ``no_grad``: torch's classic exporter fails on
    ``TransformerEncoderLayer`` under ``no_grad`` (it takes the fused fast
    path). The classic exporter bakes sequence lengths into attention's head
    reshapes, so only the batch axis is dynamic; the run binds the others.
    """
    import torch

    names = list(feeds)
    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in feeds.values())
    axes: dict[str, dict[int, str]] = {name: {0: "N"} for name in batch_inputs}
    axes["output"] = {0: "N"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer and deprecation chatter
        torch.onnx.export(
            twin,
            args,
            buffer,  # type: ignore[arg-type, unused-ignore]  # a file object works; the stub says paths only; without torch installed it is Any
            dynamo=False,
            opset_version=TORCH_OPSET,
            input_names=names,
            output_names=["output"],
            dynamic_axes=axes,
        )
    return buffer.getvalue()
