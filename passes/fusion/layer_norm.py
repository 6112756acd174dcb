"""Put layer normalization back together from its formula: ``recognize-layer-norm``.

    d = x - mean(x)                                   (mean over the trailing axes)
    d / sqrt(mean(d^2) + eps)                         -> layer_norm(x, epsilon=eps)
    layer_norm(x) * gamma                             -> layer_norm(x, gamma)
    layer_norm(x, gamma?) + beta                      -> layer_norm(x, gamma, beta)

PyTorch's classic exporter writes ``nn.LayerNorm`` like this below opset 17
(ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul, Add), and so do
hand-written models. Also recognized: ``d * d`` for ``d^2``, and the
reciprocal square root times ``d`` (``d * reciprocal(sqrt(v + eps))``,
``d * (1 / sqrt(v + eps))``, ``d * (v + eps)^-0.5``). The affine parts are
separate rules, so a norm without them (``elementwise_affine=False``), with
a scale only, or with both is each one, two or three rewrites; the worklist
composes them.

Contracts:
- Both means reduce the same trailing axes of ``x`` with ``keepdims``; the
  ``layer_norm`` gets ``axis = -(number of axes)``. Other axes (a mean over
  the batch) are a near miss, as are a mean of something other than ``x``
  and ``d`` used outside the normalization (it would be computed twice).
- ``eps`` is any one-element constant; ``gamma`` and ``beta`` may be
  computed, but must broadcast over the normalized axes only (a one-element
  or ``[1, .., 1, D]`` constant is reshaped to the normalized rank; a shape
  that would vary along a batch axis, or change the result's type, is a near
  miss). A bias without a scale gets a scale of ones, ``@{beta}.ones``
  (``layer_norm`` takes the scale first).
- Near misses are reported once ``x - mean(x)`` has matched (the rule's
  ``min_near_miss``), so a stray ``div`` is not news.
- Constants the rewrites leave unused are removed (``dead constants``).
- Numerics: ``layer_norm``'s reference computes in float64; the decomposed
  graph rounds to float32 at each of its ops, so results agree to a few
  float32 ulps of the normalized values.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops.inference import normalize_axes
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, either, op, scalar, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Check, Reject, Rule, apply_rules

_x, _d = var("x"), var("d")
_centered = op.sub(
    _x, op.reduce_mean(_x, capture="mean", keepdims=True), capture="d", single_use=False
)
_variance_eps = op.add(
    op.reduce_mean(
        either(op.pow(_d, scalar(equal_to=2.0)), op.mul(_d, _d)),
        capture="var",
        keepdims=True,
    ),
    scalar("eps"),
)
_std = op.sqrt(_variance_eps)
_normalized = either(
    op.div(_centered, _std),
    op.mul(_centered, op.reciprocal(_std)),
    op.mul(_centered, op.div(scalar(equal_to=1.0), _std)),
    op.mul(_centered, op.pow(_variance_eps, scalar(equal_to=-0.5))),
)


# checks -------------------------------------------------------------------------------------
def _trailing_axes(m: Match) -> str | None:
    x, rank = m["x"], m["x"].type.rank
    axes = [_reduced_axes(m, "mean"), _reduced_axes(m, "var")]
    if axes[0] != axes[1]:
        return (
            f"the mean %{m['mean'].name} reduces axes {list(axes[0])} but the variance "
            f"%{m['var'].name} axes {list(axes[1])}"
        )
    if not axes[0] or axes[0] != tuple(range(rank - len(axes[0]), rank)):
        return (
            f"reduce_mean %{m['mean'].name} reduces axes {list(axes[0])} of %{x.name}: "
            f"{x.type}, not its trailing axes"
        )
    return None


def _reduced_axes(m: Match, name: str) -> tuple[int, ...]:
    """The axes of ``x`` the reduce_mean captured as ``name`` reduces (absent: all)."""
    axes, rank = m.node(name).attrs.get("axes"), m["x"].type.rank
    return normalize_axes(range(rank) if axes is None else axes, rank)


def _d_only_feeds_the_norm(m: Match) -> str | None:
    d, graph = m["d"], m.root.graph
    inside = {id(n) for n in m.nodes}
    outside = [n for n in d.users if id(n) not in inside]
    is_output = graph is not None and any(d is out for out in graph.outputs)
    if not outside and not is_output:
        return None
    used_by = ", ".join(f"{n.op} %{n.outputs[0].name}" for n in outside) or "a graph output"
    return f"x - mean(x) %{d.name} is also used by {used_by}, so fusing would compute it twice"


def _keeps_type_of_x(m: Match) -> str | None:
    x, y = m["x"], m.root.outputs[0]
    if not x.type.dtype.is_float:
        return f"%{x.name} is {x.type}; layer_norm takes float tensors"
    if y.type != x.type:
        return f"its constants broadcast %{x.name}: {x.type} to {y.type}"
    return None


def _affine_fits(what: str) -> Check:
    """A check that the captured ``what`` (gamma or beta) varies along normalized axes only."""

    def check(m: Match) -> str | None:
        ln, p, y = m["ln"], m[what], m.root.outputs[0]
        if y.type != ln.type:
            return f"{what} %{p.name}: {p.type} broadcasts %{ln.name}: {ln.type} to {y.type}"
        normalized = _normalized_rank(m)
        extra = p.type.rank - normalized
        if extra > 0 and any(s != 1 for s in p.type.shape[:extra]):
            return (
                f"{what} %{p.name}: {p.type} varies along axes that layer_norm %{ln.name} "
                f"does not normalize (its last {normalized} of {ln.type})"
            )
        return None

    return check


# builds -------------------------------------------------------------------------------------
def _normalize(m: Match, em: GraphEmitter) -> list[Value]:
    """d / sqrt(mean(d^2) + eps) -> layer_norm(x, axis=-k, epsilon=eps)."""
    eps = float(m.array("eps").reshape(()))
    return [em.op("layer_norm", m["x"], axis=-len(_reduced_axes(m, "mean")), epsilon=eps)]


def _normalized_rank(m: Match) -> int:
    """How many trailing axes the captured layer_norm ``ln`` normalizes."""
    ln = m.node("ln")
    rank = ln.inputs[0].type.rank
    return rank - normalize_axes((ln.attrs["axis"],), rank)[0]


def _fitted(em: GraphEmitter, p: Value, rank: int) -> Value:
    """``p`` with its extra leading 1s dropped, so it has at most ``rank`` dims: itself, a new
    constant ``@{p}.reshaped`` or a reshape node."""
    if p.type.rank <= rank:
        return p
    shape = p.type.shape[p.type.rank - rank :]
    if p.const is None:
        return em.op("reshape", p, shape=shape)
    data = p.const.reshape(p.const.shape[p.const.ndim - rank :])
    return em.graph.add_constant(em.graph.unique_name(f"{p.name}.reshaped"), data)


def _scale(m: Match, em: GraphEmitter) -> list[Value]:
    """layer_norm(x) * gamma -> layer_norm(x, gamma)."""
    ln = m.node("ln")
    gamma = _fitted(em, m["gamma"], _normalized_rank(m))
    return [em.op("layer_norm", ln.inputs[0], gamma, **dict(ln.attrs))]


def _shift(m: Match, em: GraphEmitter) -> list[Value]:
    """layer_norm(x, gamma?) + beta -> layer_norm(x, gamma, beta)."""
    ln = m.node("ln")
    rank = _normalized_rank(m)
    beta = _fitted(em, m["beta"], rank)
    if len(ln.inputs) == 2:
        gamma = ln.inputs[1]
    else:
        dims = ln.inputs[0].type.shape[-rank:]
        sizes = tuple(d for d in dims if isinstance(d, int))
        if len(sizes) != len(dims):
            raise Reject(
                f"layer_norm %{m['ln'].name} has no scale and its normalized dims "
                f"{list(dims)} are symbolic, so a scale of ones cannot be made"
            )
        ones = np.ones(sizes, dtype=ln.inputs[0].type.dtype.numpy)
        gamma = em.graph.add_constant(em.graph.unique_name(f"{beta.name}.ones"), ones)
    return [em.op("layer_norm", ln.inputs[0], gamma, beta, **dict(ln.attrs))]


layer_norm_rules: tuple[Rule, ...] = (
    Rule(
        "mean-variance->layer_norm",
        _normalized,
        _normalize,
        (_trailing_axes, _d_only_feeds_the_norm, _keeps_type_of_x),
        min_near_miss=3,  # the root, x - mean and the mean matched
    ),
    Rule(
        "layer_norm*scale->layer_norm",
        op.mul(op.layer_norm(var("x"), capture="ln"), var("gamma")),
        _scale,
        (_affine_fits("gamma"),),
        min_near_miss=3,  # only after a full match: a layer_norm feeding a mul is not news
    ),
    Rule(
        "layer_norm+bias->layer_norm",
        op.add(
            either(
                op.layer_norm(var("x"), capture="ln"),
                op.layer_norm(var("x"), var(), capture="ln"),
            ),
            var("beta"),
        ),
        _shift,
        (_affine_fits("beta"),),
        min_near_miss=3,
    ),
)


def recognize_layer_norm(graph: Graph) -> PassResult:
    """Replace layer normalization written out with means and a square root by layer_norm."""
    return apply_rules(graph, layer_norm_rules, free_constants=True)


RECOGNIZE_LAYER_NORM = Pass("recognize-layer-norm", recognize_layer_norm)

__all__ = ["RECOGNIZE_LAYER_NORM", "layer_norm_rules", "recognize_layer_norm"]
