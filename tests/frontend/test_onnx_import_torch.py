"""Real exports from PyTorch's classic exporter (``dynamo=False``, opset 17), made inside
the test run when torch is importable (skipped otherwise; the hand-written graphs in
``test_onnx_import_shapes.py`` cover the same patterns without torch).

Each imported graph must have no shape computation left (every Shape/Gather/Concat
chain folded over the symbolic dims) and reproduce PyTorch's outputs at several sizes
of those dims within rtol 1e-4 / atol 1e-5 (float32 kernels in torch versus float64
accumulation in our reference, over sums of a few dozen terms).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference

torch = pytest.importorskip("torch")
nn = torch.nn


class PositionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 5)
        self.pos = nn.Parameter(torch.randn(16, 12))

    def forward(self, x: Any) -> Any:
        b, s = x.shape[0], x.shape[1]
        y = x.reshape(b, s, -1) + self.pos[:s]
        return self.fc(y).flatten(1)


class MaskedSelfAttention(nn.Module):
    """Attention written from primitives, as models usually are, with an additive mask."""

    def __init__(self, embed: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(embed, embed) for _ in range(4))

    def forward(self, x: Any, mask: Any) -> Any:
        b, s, e = x.shape
        d = e // self.heads
        q, k, v = (p(x).view(b, s, self.heads, d).transpose(1, 2) for p in (self.q, self.k, self.v))
        scores = q @ k.transpose(-2, -1) / (d**0.5) + mask
        y = torch.softmax(scores, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(b, s, e))


class SmallCnn(nn.Module):
    """BatchNorm first: after a conv, the exporter would fold it into the conv's weights."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: Any) -> Any:
        y = nn.functional.max_pool2d(torch.relu(self.conv(self.bn(x))), 2)
        return self.fc(y.view(y.size(0), -1))


def export(module: Any, args: tuple[Any, ...], names: list[str], axes: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the classic exporter's deprecation notice
        torch.onnx.export(
            module.eval(),
            args,
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["y"],
            dynamic_axes=axes,
        )
    return buffer.getvalue()


def check(module: Any, model: bytes, feeds_list: list[dict[str, np.ndarray]]) -> ng.Graph:
    graph = ng.import_onnx(model)
    ops = {node.op for node in graph.nodes}
    assert not ops & {"shape", "gather", "concat", "range"}, ng.print_graph(graph)
    for feeds in feeds_list:
        with torch.no_grad():
            expected = module(*(torch.from_numpy(a) for a in feeds.values())).numpy()
        got = run_reference(graph, feeds)["y"]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    return graph


def test_positional_linear_with_symbolic_batch_and_sequence() -> None:
    torch.manual_seed(0)
    module = PositionalLinear()
    model = export(module, (torch.randn(2, 5, 3, 4),), ["x"], {"x": {0: "B", 1: "S"}})
    rng = np.random.default_rng(0)
    feeds = [
        {"x": rng.standard_normal((b, s, 3, 4)).astype(np.float32)} for b, s in ((1, 3), (2, 16))
    ]
    graph = check(module, model, feeds)
    assert str(graph.outputs[0].type) == "f32[B,5*S]"


def test_hand_written_attention_with_an_additive_mask() -> None:
    torch.manual_seed(0)
    module = MaskedSelfAttention()
    args = (torch.randn(2, 5, 16), torch.zeros(5, 5))
    model = export(module, args, ["x", "mask"], {"x": {0: "B", 1: "S"}, "mask": {0: "S", 1: "S"}})
    rng = np.random.default_rng(1)
    feeds = []
    for b, s in ((1, 4), (3, 7)):
        mask = np.triu(np.full((s, s), -1e9, np.float32), 1)
        feeds.append({"x": rng.standard_normal((b, s, 16)).astype(np.float32), "mask": mask})
    graph = check(module, model, feeds)
    assert [n.op for n in graph.nodes].count("reshape") == 4  # three head splits, one merge


def test_cnn_with_batch_norm_and_a_view_to_the_batch_size() -> None:
    torch.manual_seed(0)
    module = SmallCnn()
    module.bn.running_mean.uniform_(-1, 1)
    module.bn.running_var.uniform_(0.5, 2)
    model = export(module, (torch.randn(2, 3, 8, 8),), ["x"], {"x": {0: "N"}})
    rng = np.random.default_rng(2)
    feeds = [{"x": rng.standard_normal((n, 3, 8, 8)).astype(np.float32)} for n in (1, 3)]
    graph = check(module, model, feeds)
    assert "batch_norm" in {node.op for node in graph.nodes}
