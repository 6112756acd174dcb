"""``nn`` modules: PyTorch's state-dict names and layouts, loading, init, and numerics.

The expected state-dict names are written out by hand from PyTorch's
conventions. Attention and the encoder layer are checked against NumPy written
from the formulas (for attention, the per-vector formulas of the seed notes,
with plain loops). Tolerances, float32 results against float64 NumPy:
rtol 1e-5, atol 1e-5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend import functional as F
from nanograph.frontend import nn
from nanograph.frontend.nn.positional import sinusoidal_table
from nanograph.frontend.spec import InputSpec
from nanograph.frontend.tensor import Tensor
from nanograph.ir.errors import AttributeValueError, StateDictError

RTOL = ATOL = 1e-5
RNG = np.random.default_rng(1)


def randn(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def spec(name: str, *shape: object, dtype: str = "f32", value_range: Any = None) -> InputSpec:
    return InputSpec(name, shape, dtype, value_range=value_range)


def run_one(model: Any, specs: list[InputSpec], **feeds: Any) -> np.ndarray:
    graph = ng.trace(model, *specs)
    (out,) = run_reference(graph, feeds).values()
    return out


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Load random values into every parameter and buffer (variances kept positive)."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, array in module.state_dict().items():
        value = rng.standard_normal(array.shape).astype(np.float32) * 0.5
        state[name] = np.abs(value) + 0.5 if name.endswith("running_var") else value
    module.load_state_dict(state)
    return module


# state-dict names and layouts ----------------------------------------------------------------
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 8, (3, 5), groups=2, bias=False)
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return self.fc(self.pool(self.conv2(x)).flatten(1))


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_conv_linear_batchnorm_names_and_layouts_follow_pytorch() -> None:
    assert shapes(Net()) == {
        "conv1.weight": (16, 3, 3, 3),  # OIHW
        "conv1.bias": (16,),
        "bn1.weight": (16,),
        "bn1.bias": (16,),
        "bn1.running_mean": (16,),
        "bn1.running_var": (16,),
        "conv2.weight": (8, 8, 3, 5),  # O, I/groups, kH, kW
        "fc.weight": (10, 8),  # [out, in]
        "fc.bias": (10,),
    }


def test_state_dict_order_is_registration_order() -> None:
    assert list(Net().state_dict()) == [
        "conv1.weight",
        "conv1.bias",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "conv2.weight",
        "fc.weight",
        "fc.bias",
    ]


def test_transformer_encoder_layer_names_follow_pytorch() -> None:
    """PyTorch's names, except that attention keeps q, k, v projections separate (its packed
    ``in_proj_weight`` loads too, see below)."""
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    e, ff = 8, 16
    assert shapes(layer) == {
        "self_attn.q_proj.weight": (e, e),
        "self_attn.q_proj.bias": (e,),
        "self_attn.k_proj.weight": (e, e),
        "self_attn.k_proj.bias": (e,),
        "self_attn.v_proj.weight": (e, e),
        "self_attn.v_proj.bias": (e,),
        "self_attn.out_proj.weight": (e, e),
        "self_attn.out_proj.bias": (e,),
        "linear1.weight": (ff, e),
        "linear1.bias": (ff,),
        "linear2.weight": (e, ff),
        "linear2.bias": (e,),
        "norm1.weight": (e,),
        "norm1.bias": (e,),
        "norm2.weight": (e,),
        "norm2.bias": (e,),
    }


def test_other_module_names() -> None:
    assert shapes(nn.Embedding(100, 8)) == {"weight": (100, 8)}
    assert shapes(nn.LayerNorm(8)) == {"weight": (8,), "bias": (8,)}
    assert shapes(nn.LayerNorm((4, 8), elementwise_affine=False)) == {}
    assert shapes(nn.Linear(3, 2, bias=False)) == {"weight": (2, 3)}
    assert shapes(nn.LearnedPositionalEncoding(32, 8)) == {"weight": (32, 8)}
    # The sinusoidal table is a non-persistent buffer: not in the state dict.
    assert shapes(nn.SinusoidalPositionalEncoding(8, max_len=32)) == {}
    assert shapes(nn.Sequential(nn.ReLU(), nn.Dropout(0.1), nn.Flatten())) == {}


def test_sequential_and_module_list_are_numbered() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 4, 1))
            self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
            self.layers.append(nn.LayerNorm(4))

    model = Model()
    assert list(model.state_dict()) == [
        "features.0.weight",
        "features.0.bias",
        "features.2.weight",
        "features.2.bias",
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "layers.2.weight",
        "layers.2.bias",
    ]
    assert [p for p, _ in model.named_modules()][:4] == ["", "features", "features.0", "features.1"]
    assert len(model.layers) == 3 and isinstance(model.layers[2], nn.LayerNorm)
    assert isinstance(model.features[1], nn.ReLU) and len(model.features) == 3


def test_num_parameters_counts_learnable_scalars_only() -> None:
    assert nn.Linear(10, 4).num_parameters() == 10 * 4 + 4
    assert nn.Conv2d(3, 16, 3).num_parameters() == 16 * 3 * 3 * 3 + 16
    assert nn.BatchNorm2d(8).num_parameters() == 16  # running stats are buffers
    assert nn.SinusoidalPositionalEncoding(8).num_parameters() == 0
    expected = (16 * 27 + 16) + 32 + (8 * 8 * 15) + (8 * 10 + 10)
    assert Net().num_parameters() == expected
    assert nn.MultiHeadAttention(8, 2).num_parameters() == 4 * (8 * 8 + 8)


# loading -------------------------------------------------------------------------------------
def test_load_state_dict_round_trip() -> None:
    source = randomize(Net(), seed=3)
    target = Net()
    target.load_state_dict(source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)
    x = randn(2, 3, 6, 6)
    spec_x = spec("x", "N", 3, 6, 6)
    np.testing.assert_array_equal(run_one(source, [spec_x], x=x), run_one(target, [spec_x], x=x))


def test_loaded_arrays_are_copies() -> None:
    state = randomize(nn.Linear(3, 2)).state_dict()
    module = nn.Linear(3, 2)
    module.load_state_dict(state)
    before = module.state_dict()["weight"].copy()
    state["weight"][...] = 0.0  # the caller reuses its array
    np.testing.assert_array_equal(module.state_dict()["weight"], before)
    module.state_dict()["weight"][...] = 1.0  # and state_dict() hands out copies
    np.testing.assert_array_equal(module.state_dict()["weight"], before)


def test_all_mismatches_are_reported_at_once() -> None:
    state = Net().state_dict()
    del state["conv1.bias"]
    del state["bn1.running_var"]
    state["fc.weight"] = np.zeros((8, 10), np.float32)  # transposed: [in, out]
    state["conv1.weight"] = np.zeros((16, 3, 5, 5), np.float32)
    state["classifier.weight"] = np.zeros((10, 8), np.float32)
    with pytest.raises(StateDictError) as info:
        Net().load_state_dict(state)
    message = str(info.value)
    for fragment in (
        "missing",
        "conv1.bias",
        "bn1.running_var",
        "unexpected",
        "classifier.weight",
        "fc.weight: expected [10, 8], got [8, 10]",
        "conv1.weight: expected [16, 3, 3, 3], got [16, 3, 5, 5]",
    ):
        assert fragment in message, message
    assert info.value.hint


def test_a_failed_load_changes_nothing() -> None:
    model = Net()
    before = model.state_dict()
    state = randomize(Net(), seed=5).state_dict()
    state["fc.bias"] = np.zeros(3, np.float32)
    with pytest.raises(StateDictError):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_strict_false_ignores_missing_and_unexpected_but_not_shapes() -> None:
    model = Net()
    before = model.state_dict()
    new_fc = np.full((10, 8), 0.25, np.float32)
    model.load_state_dict({"fc.weight": new_fc, "aux.weight": np.zeros(3)}, strict=False)
    np.testing.assert_array_equal(model.state_dict()["fc.weight"], new_fc)
    np.testing.assert_array_equal(model.state_dict()["conv1.weight"], before["conv1.weight"])
    with pytest.raises(StateDictError, match=r"fc\.weight"):
        model.load_state_dict({"fc.weight": np.zeros((8, 10))}, strict=False)


def test_num_batches_tracked_is_ignored() -> None:
    state = randomize(Net(), seed=2).state_dict()
    state["bn1.num_batches_tracked"] = np.array(100, np.int64)
    model = Net()
    model.load_state_dict(state)  # strict, and still no "unexpected" error
    np.testing.assert_array_equal(model.state_dict()["bn1.running_mean"], state["bn1.running_mean"])
    assert "bn1.num_batches_tracked" not in model.state_dict()


def test_torch_like_tensors_are_accepted() -> None:
    class FakeTorchTensor:  # what load_state_dict relies on: .detach().cpu().numpy()
        def __init__(self, array: np.ndarray) -> None:
            self.array = array

        def detach(self) -> FakeTorchTensor:
            return self

        def cpu(self) -> FakeTorchTensor:
            return self

        def numpy(self) -> np.ndarray:
            return self.array

    weight = randn(2, 3)
    module = nn.Linear(3, 2, bias=False)
    module.load_state_dict({"weight": FakeTorchTensor(weight)})
    np.testing.assert_array_equal(module.state_dict()["weight"], weight)


def test_packed_in_proj_is_split_into_q_k_v() -> None:
    e = 8
    w, b = randn(3 * e, e), randn(3 * e)
    out_w, out_b = randn(e, e), randn(e)
    attn = nn.MultiHeadAttention(e, 2)
    attn.load_state_dict(
        {"in_proj_weight": w, "in_proj_bias": b, "out_proj.weight": out_w, "out_proj.bias": out_b}
    )
    state = attn.state_dict()
    for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
        np.testing.assert_array_equal(state[f"{name}.weight"], w[i * e : (i + 1) * e])
        np.testing.assert_array_equal(state[f"{name}.bias"], b[i * e : (i + 1) * e])


def test_packed_in_proj_loads_into_nested_encoder_layers() -> None:
    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.TransformerEncoderLayer(8, 2, 16) for _ in range(2)])

    encoder = Encoder()
    torch_state: dict[str, np.ndarray] = {}
    for key, value in encoder.state_dict().items():
        if ".self_attn." in key and "_proj." in key and "out_proj" not in key:
            continue
        torch_state[key] = value
    packed = {}
    for i in range(2):
        packed[i] = randn(24, 8)
        torch_state[f"layers.{i}.self_attn.in_proj_weight"] = packed[i]
        torch_state[f"layers.{i}.self_attn.in_proj_bias"] = randn(24)
    encoder.load_state_dict(torch_state)
    state = encoder.state_dict()
    for i in range(2):
        np.testing.assert_array_equal(state[f"layers.{i}.self_attn.k_proj.weight"], packed[i][8:16])


# initialisation ------------------------------------------------------------------------------
def test_seeded_init_is_deterministic() -> None:
    nn.manual_seed(123)
    a = Net().state_dict()
    nn.manual_seed(123)
    b = Net().state_dict()
    nn.manual_seed(124)
    c = Net().state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])


def test_init_follows_pytorch_defaults() -> None:
    nn.manual_seed(0)
    fc = nn.Linear(50, 40)
    bound = 1 / math.sqrt(50)
    state = fc.state_dict()
    assert state["weight"].dtype == np.float32
    assert np.abs(state["weight"]).max() <= bound and np.abs(state["weight"]).max() > 0.8 * bound
    bn = nn.BatchNorm2d(4).state_dict()
    np.testing.assert_array_equal(bn["weight"], np.ones(4))
    np.testing.assert_array_equal(bn["bias"], np.zeros(4))
    np.testing.assert_array_equal(bn["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(bn["running_var"], np.ones(4))


# numerics: simple modules --------------------------------------------------------------------
def test_linear_uses_weight_out_in() -> None:
    fc = randomize(nn.Linear(5, 3))
    s = fc.state_dict()
    x = randn(4, 5)
    close(run_one(fc, [spec("x", "N", 5)], x=x), x @ s["weight"].T + s["bias"])


def test_batch_norm_uses_running_statistics() -> None:
    bn = randomize(nn.BatchNorm2d(3, eps=1e-3))
    s = bn.state_dict()
    x = randn(2, 3, 4, 4)

    def per_channel(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float64)[None, :, None, None]

    expected = (x - per_channel(s["running_mean"])) / np.sqrt(per_channel(s["running_var"]) + 1e-3)
    expected = expected * per_channel(s["weight"]) + per_channel(s["bias"])
    close(run_one(bn, [spec("x", "N", 3, 4, 4)], x=x), expected.astype(np.float32))


def test_embedding_picks_rows() -> None:
    emb = nn.Embedding(10, 4)
    ids = np.array([[1, 9, 0], [3, 3, 7]], np.int64)
    ids_spec = spec("ids", "N", "S", dtype="i64", value_range=(0, 10))
    out = run_one(emb, [ids_spec], ids=ids)
    np.testing.assert_array_equal(out, emb.state_dict()["weight"][ids])


def test_dropout_and_identity_record_nothing() -> None:
    model = nn.Sequential(nn.Dropout(0.5), nn.Identity(), nn.ReLU())
    graph = ng.trace(model, spec("x", 3))
    assert [n.op for n in graph.nodes] == ["relu"]


# attention: the per-vector formulas of the seed notes -----------------------------------------
def attention_by_vectors(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    state: dict[str, np.ndarray],
    heads: int,
    visible: Any = None,
    additive: np.ndarray | None = None,
) -> np.ndarray:
    """For each query i and head h: q_i = W^q a_i + b^q, alpha_ij = q_i . k_j / sqrt(d),
    alpha'_i = softmax_j(alpha_ij) over visible keys j, b_i = sum_j alpha'_ij v_j; the heads'
    b_i are concatenated and projected: out_i = W^o b_i + b^o. Plain loops, float64."""
    w = {k: v.astype(np.float64) for k, v in state.items()}

    def project(a: np.ndarray, name: str) -> np.ndarray:
        return w[f"{name}.weight"] @ a + w[f"{name}.bias"]

    n_batch, s_q, e = query.shape
    s_kv = key.shape[1]
    d = e // heads
    out = np.zeros((n_batch, s_q, e))
    for n in range(n_batch):
        q = [project(query[n, i], "q_proj") for i in range(s_q)]
        k = [project(key[n, j], "k_proj") for j in range(s_kv)]
        v = [project(value[n, j], "v_proj") for j in range(s_kv)]
        for i in range(s_q):
            b = np.zeros(e)
            for h in range(heads):
                part = slice(h * d, (h + 1) * d)
                alpha = np.full(s_kv, -np.inf)
                for j in range(s_kv):
                    if visible is None or visible(n, h, i, j):
                        alpha[j] = q[i][part] @ k[j][part] / math.sqrt(d)
                        if additive is not None:
                            alpha[j] += additive[i, j]
                if np.all(np.isinf(alpha)):
                    b[part] = np.nan  # no visible key: NaN, as the IR's attention defines
                    continue
                weights = np.exp(alpha - alpha.max())
                weights /= weights.sum()
                b[part] = sum(weights[j] * v[j][part] for j in range(s_kv))
            out[n, i] = project(b, "out_proj")
    return out.astype(np.float32)


def trace_attention(attn: nn.MultiHeadAttention, mask: InputSpec | None = None) -> Any:
    specs = [spec("x", "N", "S", attn.embed_dim)] + ([mask] if mask is not None else [])
    if mask is None:
        return ng.trace(lambda x: attn(x), *specs)
    return ng.trace(lambda x, m: attn(x, mask=m), *specs)


@pytest.mark.parametrize(("causal", "window"), [(False, None), (True, None), (False, 1), (True, 2)])
def test_self_attention_matches_the_per_vector_formulas(causal: bool, window: int | None) -> None:
    attn = randomize(nn.MultiHeadAttention(8, 2, causal=causal, window=window), seed=4)
    graph = trace_attention(attn)

    def visible(n: int, h: int, i: int, j: int) -> bool:
        return (not causal or j <= i) and (window is None or abs(i - j) <= window)

    for s in (1, 5):  # the symbolic sequence length, bound at two sizes
        x = randn(2, s, 8)
        (out,) = run_reference(graph, {"x": x}).values()
        close(out, attention_by_vectors(x, x, x, attn.state_dict(), 2, visible))


def test_attention_with_a_boolean_mask_true_is_visible() -> None:
    attn = randomize(nn.MultiHeadAttention(8, 4), seed=5)
    graph = trace_attention(attn, spec("mask", "N", 1, 1, "S", dtype="bool"))
    x = randn(2, 4, 8)
    keep = np.array([[True, True, False, True], [True, False, False, False]])  # key padding
    (out,) = run_reference(graph, {"x": x, "mask": keep[:, None, None, :]}).values()
    expected = attention_by_vectors(
        x, x, x, attn.state_dict(), 4, lambda n, h, i, j: bool(keep[n, j])
    )
    close(out, expected)


def test_attention_boolean_mask_combines_with_causal() -> None:
    attn = randomize(nn.MultiHeadAttention(8, 2, causal=True), seed=6)
    graph = trace_attention(attn, spec("mask", "S", "S", dtype="bool"))
    x = randn(1, 4, 8)
    keep = np.array(
        [[1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1]], dtype=bool
    )  # every query keeps its own key, so no row is fully hidden
    (out,) = run_reference(graph, {"x": x, "mask": keep}).values()
    expected = attention_by_vectors(
        x, x, x, attn.state_dict(), 2, lambda n, h, i, j: j <= i and bool(keep[i, j])
    )
    close(out, expected)


def test_a_query_with_no_visible_key_gives_nan() -> None:
    attn = randomize(nn.MultiHeadAttention(4, 1), seed=7)
    graph = trace_attention(attn, spec("mask", "S", "S", dtype="bool"))
    keep = np.ones((3, 3), bool)
    keep[1] = False
    (out,) = run_reference(graph, {"x": randn(1, 3, 4), "mask": keep}).values()
    assert np.isnan(out[0, 1]).all() and np.isfinite(out[0, [0, 2]]).all()


def test_attention_with_an_additive_float_mask() -> None:
    attn = randomize(nn.MultiHeadAttention(8, 2), seed=8)
    graph = trace_attention(attn, spec("mask", "S", "S"))
    x, bias = randn(2, 3, 8), randn(3, 3)
    (out,) = run_reference(graph, {"x": x, "mask": bias}).values()
    close(out, attention_by_vectors(x, x, x, attn.state_dict(), 2, additive=bias))


def test_cross_attention_with_other_keys_and_values() -> None:
    attn = randomize(nn.MultiHeadAttention(8, 2), seed=9)
    graph = ng.trace(lambda q, kv: attn(q, kv, kv), spec("q", "N", "T", 8), spec("kv", "N", "S", 8))
    q, kv = randn(2, 3, 8), randn(2, 5, 8)
    (out,) = run_reference(graph, {"q": q, "kv": kv}).values()
    close(out, attention_by_vectors(q, kv, kv, attn.state_dict(), 2))


def test_attention_accepts_a_numpy_boolean_mask() -> None:
    attn = randomize(nn.MultiHeadAttention(8, 2), seed=12)
    keep = np.tril(np.ones((4, 4), bool))
    graph = ng.trace(lambda x: attn(x, mask=keep), spec("x", "N", 4, 8))
    x = randn(2, 4, 8)
    (out,) = run_reference(graph, {"x": x}).values()
    close(out, attention_by_vectors(x, x, x, attn.state_dict(), 2, lambda n, h, i, j: j <= i))


def test_attention_is_recorded_from_primitives() -> None:
    attn = nn.MultiHeadAttention(8, 2, causal=True)
    ops = {n.op for n in trace_attention(attn).nodes}
    assert {"matmul", "softmax", "transpose", "reshape", "where"} <= ops
    assert "attention" not in ops  # fusion is the passes' job


# positional encodings ------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [8, 7])
def test_sinusoidal_table_matches_the_formula(dim: int) -> None:
    table = sinusoidal_table(50, dim)
    assert table.shape == (50, dim) and table.dtype == np.float32
    for p in (0, 1, 17, 49):
        for c in range(dim):
            angle = p / 10000 ** ((c - c % 2) / dim)  # pe[p,2i], pe[p,2i+1] share 10000^(2i/E)
            want = math.sin(angle) if c % 2 == 0 else math.cos(angle)
            assert abs(table[p, c] - want) <= 1e-6, (p, c)


def test_positional_encodings_add_rows_for_a_symbolic_length() -> None:
    sin = nn.SinusoidalPositionalEncoding(8, max_len=16)
    learned = randomize(nn.LearnedPositionalEncoding(16, 8))
    table = sinusoidal_table(16, 8)
    for module, rows in ((sin, table), (learned, learned.state_dict()["weight"])):
        graph = ng.trace(module, spec("x", "N", "S", 8))
        for s in (3, 16):
            x = randn(2, s, 8)
            (out,) = run_reference(graph, {"x": x}).values()
            close(out, x + rows[:s])


# TransformerEncoderLayer against the formulas -------------------------------------------------
def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def encoder_layer_numpy(
    x: np.ndarray, s: dict[str, np.ndarray], heads: int, norm_first: bool, act: str
) -> np.ndarray:
    """PyTorch's TransformerEncoderLayer from its formulas, with matrix attention."""
    w = {k: v.astype(np.float64) for k, v in s.items()}
    x = x.astype(np.float64)

    def lin(a: np.ndarray, name: str) -> np.ndarray:
        return a @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    def self_attn(a: np.ndarray) -> np.ndarray:
        n, length, e = a.shape
        d = e // heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(n, length, heads, d).transpose(0, 2, 1, 3)

        q, k, v = (split(lin(a, f"self_attn.{p}_proj")) for p in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        merged = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, e)
        return lin(merged, "self_attn.out_proj")

    def ff(a: np.ndarray) -> np.ndarray:
        h = lin(a, "linear1")
        return lin(np.maximum(h, 0) if act == "relu" else gelu(h), "linear2")

    def norm(a: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(a, w[f"{name}.weight"], w[f"{name}.bias"])

    if norm_first:
        x = x + self_attn(norm(x, "norm1"))
        return x + ff(norm(x, "norm2"))
    x = norm(x + self_attn(x), "norm1")
    return norm(x + ff(x), "norm2")


@pytest.mark.parametrize(
    ("norm_first", "act"), [(False, "relu"), (True, "relu"), (True, "gelu"), (False, "gelu")]
)
def test_transformer_encoder_layer_matches_the_formulas(norm_first: bool, act: str) -> None:
    layer = nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, activation=act, norm_first=norm_first
    )
    randomize(layer, seed=11)
    graph = ng.trace(layer, spec("x", "N", "S", 8))
    assert "dropout" not in {n.op for n in graph.nodes}
    for s in (1, 4):
        x = randn(2, s, 8)
        (out,) = run_reference(graph, {"x": x}).values()
        expected = encoder_layer_numpy(x, layer.state_dict(), 2, norm_first, act)
        close(out, expected.astype(np.float32))


def test_encoder_layer_accepts_pytorch_batch_first_and_refuses_sequence_first() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    assert layer.norm_first is False
    with pytest.raises(AttributeValueError, match="batch_first"):
        nn.TransformerEncoderLayer(8, 2, 16, batch_first=False)
