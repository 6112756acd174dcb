"""Functional DSL ops on symbolic tensors, with PyTorch's names and conventions.

Each function records IR nodes through the active tracer. Arguments follow
PyTorch (``dim``, ``keepdim``, ``stride``/``padding`` as int or pair, Linear
weights ``[out, in]``, ``F.pad`` pads last dim first) and are translated to
the IR's ONNX-like attributes here, once. Python scalars and NumPy arrays mix
freely with tensors: scalars take the dtype of the tensor they meet.

Every shape or dtype mistake raises at trace time from the op's inference,
naming the op, the input shapes and the user's source line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nanograph.frontend import arguments
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import _CURRENT, TraceError, current_tracer, user_location
from nanograph.ir.dims import Dim, SymExpr, as_dim, mul
from nanograph.ir.errors import DTypeError, NanographError, ShapeError
from nanograph.ir.graph import Value
from nanograph.ir.types import DType

TO_END = 2**63 - 1  # slice end meaning "to the end of the axis" (ONNX's INT64_MAX)

TensorLike = Any  # Tensor | Parameter | np.ndarray | int | float | bool


# plumbing ---------------------------------------------------------------------------
def _dtype_hint(args: Sequence[TensorLike]) -> DType | None:
    for a in args:
        if isinstance(a, Tensor):
            return a.dtype
    return None


def _describe(inputs: Sequence[TensorLike]) -> str:
    return ", ".join(
        str(x.value.type) if isinstance(x, Tensor) else type(x).__name__ for x in inputs
    )


def _value(x: TensorLike, dtype: DType | None) -> Value:
    """The IR value for an operand: a Python (or NumPy) scalar takes ``dtype``, the dtype
    of the tensor it meets; a float never silently becomes an integer."""
    if isinstance(x, Tensor):
        return x.value
    tracer = current_tracer()
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (bool, int, float)):
        if dtype is None:
            dtype = DType.bool if isinstance(x, bool) else DType.f32
        elif isinstance(x, float) and not dtype.is_float:
            raise DTypeError(
                f"the float scalar {x!r} cannot meet a {dtype} tensor: nanograph does not "
                "promote types",
                loc=user_location(),
                hint="cast the tensor first, e.g. ids.float() * 0.5",
            )
        return tracer.graph.add_constant(
            tracer.graph.unique_name(tracer._scoped("scalar")), np.array(x, dtype=dtype.numpy)
        )
    return tracer.constant(x)


def emit(op: str, *inputs: TensorLike, **attrs: Any) -> Tensor:
    """Record ``op`` on ``inputs`` (tensors, arrays, parameters or scalars)."""
    out = emit_multi(op, *inputs, **attrs)
    return out[0]


def emit_multi(op: str, *inputs: TensorLike, **attrs: Any) -> list[Tensor]:
    """Record ``op`` and return all its outputs."""
    tracer = _CURRENT.get() or current_tracer(f"{op} on ({_describe(inputs)})")
    dtype = _dtype_hint(inputs)
    values = [_value(x, dtype) for x in inputs]
    node = tracer.emit(op, values, {k: v for k, v in attrs.items() if v is not None})
    return [Tensor(v) for v in node.outputs]


def as_tensor(x: TensorLike) -> Tensor:
    """A tensor for ``x``: tensors pass through; parameters, buffers, arrays become constants."""
    return x if isinstance(x, Tensor) else Tensor(_value(x, None))


# elementwise ------------------------------------------------------------------------
def add(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("add", a, b)


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("sub", a, b)


def mul_(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("mul", a, b)


def div(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("div", a, b)


def pow(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("pow", a, b)


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("maximum", a, b)


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("minimum", a, b)


def where(condition: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    dtype = _dtype_hint([a, b])
    return emit("where", as_tensor(condition), Tensor(_value(a, dtype)), Tensor(_value(b, dtype)))


def relu(x: Tensor) -> Tensor:
    return emit("relu", x)


def relu6(x: Tensor) -> Tensor:
    return emit("clip", x, min=0.0, max=6.0)


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    return emit("clip", x, min=min, max=max)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return emit("gelu", x, approximate=approximate)


def silu(x: Tensor) -> Tensor:
    return emit("silu", x)


def sigmoid(x: Tensor) -> Tensor:
    return emit("sigmoid", x)


def tanh(x: Tensor) -> Tensor:
    return emit("tanh", x)


def exp(x: Tensor) -> Tensor:
    return emit("exp", x)


def log(x: Tensor) -> Tensor:
    return emit("log", x)


def sqrt(x: Tensor) -> Tensor:
    return emit("sqrt", x)


def erf(x: Tensor) -> Tensor:
    return emit("erf", x)


def abs(x: Tensor) -> Tensor:
    return emit("abs", x)


def logical_not(x: Tensor) -> Tensor:
    return emit("not", x)


def cast(x: Tensor, dtype: object) -> Tensor:
    try:
        to = DType.parse(dtype)
    except NanographError as err:
        raise type(err)(
            f"cast: cannot cast {_describe([x])} to {dtype!r}: {err.message}",
            loc=user_location(),
            hint=err.hint,
        ) from None
    return emit("cast", x, to=to)


# linear algebra and nn --------------------------------------------------------------
def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    return emit("matmul", a, b)


def linear(x: Tensor, weight: TensorLike, bias: TensorLike | None = None) -> Tensor:
    """``x @ weight.T + bias`` with PyTorch's weight layout ``[out, in]``."""
    out = matmul(x, transpose(as_tensor(weight), 0, 1))
    return out if bias is None else add(out, bias)


def conv2d(
    x: Tensor,
    weight: TensorLike,
    bias: TensorLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    ph, pw = arguments.pair("F.conv2d", "padding", padding, 0)
    inputs = [x, weight] if bias is None else [x, weight, bias]
    return emit(
        "conv2d",
        *inputs,
        strides=arguments.pair("F.conv2d", "stride", stride, 1),
        pads=(ph, pw, ph, pw),
        dilations=arguments.pair("F.conv2d", "dilation", dilation, 1),
        groups=arguments.whole("F.conv2d", "groups", groups),
    )


Pair = tuple[int, int]


def pool_window(
    owner: str, kernel_size: object, stride: object, padding: object
) -> tuple[Pair, Pair, Pair]:
    """A pool's checked (kernel, strides, padding); the stride defaults to the kernel."""
    k = arguments.pair(owner, "kernel_size", kernel_size, 1)
    strides = k if stride is None else arguments.pair(owner, "stride", stride, 1)
    pads = arguments.pair(owner, "padding", padding, 0)
    arguments.pool_padding(owner, pads, k)
    return k, strides, pads


def max_pool2d(
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    k, strides, (ph, pw) = pool_window("F.max_pool2d", kernel_size, stride, padding)
    return emit(
        "max_pool2d",
        x,
        kernel=k,
        strides=strides,
        pads=(ph, pw, ph, pw),
        dilations=arguments.pair("F.max_pool2d", "dilation", dilation, 1),
        ceil_mode=ceil_mode,
    )


def avg_pool2d(
    x: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    k, strides, (ph, pw) = pool_window("F.avg_pool2d", kernel_size, stride, padding)
    return emit(
        "avg_pool2d",
        x,
        kernel=k,
        strides=strides,
        pads=(ph, pw, ph, pw),
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )


def global_avg_pool2d(x: Tensor) -> Tensor:
    """Mean over H and W, keeping them as size 1: ``[N, C, 1, 1]``."""
    return emit("global_avg_pool2d", x)


def batch_norm(
    x: Tensor,
    running_mean: TensorLike,
    running_var: TensorLike,
    weight: TensorLike,
    bias: TensorLike,
    eps: float = 1e-5,
) -> Tensor:
    eps = arguments.real("F.batch_norm", "eps", eps, 0.0)
    return emit("batch_norm", x, weight, bias, running_mean, running_var, epsilon=eps)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: TensorLike | None = None,
    bias: TensorLike | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over x's trailing dims, which must equal ``normalized_shape`` (PyTorch's rule;
    symbolic dims compare as the IR compares them), then ``* weight + bias``."""
    n = len(_normalized_shape(x, normalized_shape))
    eps = arguments.real("F.layer_norm", "eps", eps, 0.0)
    inputs = [x] + [t for t in (weight, bias) if t is not None]
    if weight is None and bias is not None:
        raise TraceError(
            f"layer_norm of {x.value.type}: a bias needs a weight too",
            loc=user_location(),
            hint="pass weight=np.ones(normalized_shape) with the bias",
        )
    return emit("layer_norm", *inputs, axis=-n, epsilon=eps)


def _normalized_shape(x: Tensor, normalized_shape: object) -> tuple[Dim, ...]:
    """``normalized_shape`` as dims, which must be exactly x's trailing dims (as in PyTorch)."""
    single = isinstance(normalized_shape, (int, np.integer, SymExpr))
    items = (normalized_shape,) if single else normalized_shape
    if not isinstance(items, Sequence) or isinstance(items, str):
        items = (arguments.whole("F.layer_norm", "normalized_shape", normalized_shape),)
    shape = tuple(
        d if isinstance(d, SymExpr) else arguments.whole("F.layer_norm", "normalized_shape", d)
        for d in items
    )
    shown = "[" + ",".join(str(d) for d in shape) + "]"
    if not shape:
        raise ShapeError(
            f"layer_norm: normalized_shape is empty (x is {x.value.type}); it must name at "
            "least one trailing dim",
            loc=user_location(),
            hint="give the trailing dims to normalize over, e.g. x.shape[-1:] "
            "(PyTorch refuses an empty normalized_shape too)",
        )
    trailing = tuple(x.shape[-len(shape) :]) if len(shape) <= x.ndim else None
    if trailing != shape:
        got = (
            f"its last {len(shape)} dim(s) are [{','.join(str(d) for d in trailing)}]"
            if trailing is not None
            else f"x has only {x.ndim} dims"
        )
        raise ShapeError(
            f"layer_norm: normalized_shape {shown} does not match x {x.value.type}: {got}",
            loc=user_location(),
            hint=f"normalized_shape must equal x's trailing dims (PyTorch: expected input "
            f"with shape [*, {shown[1:-1].replace(',', ', ')}]); to normalize the last k dims "
            "of x pass x.shape[-k:]",
        )
    return shape


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return emit("softmax", x, axis=arguments.axis("F.softmax", "dim", dim))


def embedding(ids: Tensor, weight: TensorLike) -> Tensor:
    """Rows of ``weight`` ``[num_embeddings, dim]`` picked by integer ``ids``."""
    return emit("gather", weight, ids, axis=0)


# reductions -------------------------------------------------------------------------
def _reduced(op: str, dim: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """The IR's ``axes`` for a reduction's ``dim``: None reduces every axis, and so does an
    empty ``dim=()``, as in PyTorch 2.x (``torch.mean(x, dim=())`` is the mean of all)."""
    if dim is None:
        return None
    return arguments.axes(f"F.{op}", "dim", dim) or None


def sum(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return emit("reduce_sum", x, axes=_reduced("sum", dim), keepdims=keepdim)


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return emit("reduce_mean", x, axes=_reduced("mean", dim), keepdims=keepdim)


def amax(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return emit("reduce_max", x, axes=_reduced("amax", dim), keepdims=keepdim)


def amin(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return emit("reduce_min", x, axes=_reduced("amin", dim), keepdims=keepdim)


def argmax(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    return emit("argmax", x, axis=arguments.axis("F.argmax", "dim", dim), keepdims=keepdim)


# shapes -----------------------------------------------------------------------------
def _shape_arg(shape: tuple[Any, ...]) -> tuple[Dim, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(as_dim(d) for d in shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Reshape to ``shape`` (ints, symbolic dims from other tensors' ``.shape``, one -1)."""
    return emit("reshape", x, shape=_shape_arg(shape))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes (PyTorch's ``transpose``)."""
    perm = list(range(x.ndim))
    a, b = _axis(dim0, x, "transpose"), _axis(dim1, x, "transpose")
    perm[a], perm[b] = perm[b], perm[a]
    return emit("transpose", x, perm=perm)


def permute(x: Tensor, *dims: Any) -> Tensor:
    perm = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    return emit("transpose", x, perm=arguments.axes("F.permute", "dims", perm))


def _axis(dim: int, x: Tensor, op: str) -> int:
    dim = arguments.axis(f"F.{op}", "dim", dim)
    rank = x.ndim
    if not -rank <= dim < rank:
        raise ShapeError(
            f"{op}: dim {dim} is out of range for {x.value.type} (rank {rank})",
            loc=user_location(),
            hint=f"use a dim in [{-rank}, {rank - 1}]",
        )
    return dim % rank


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    start, end = _axis(start_dim, x, "flatten"), _axis(end_dim, x, "flatten")
    if start > end:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} in {x.value.type}",
            loc=user_location(),
            hint="give start_dim <= end_dim",
        )
    if end == x.ndim - 1 and start <= 1:
        return emit("flatten", x, axis=start) if start == 1 else reshape(x, x.numel)
    merged: Dim = 1
    for d in x.shape[start : end + 1]:
        merged = mul(merged, d)
    return reshape(x, *x.shape[:start], merged, *x.shape[end + 1 :])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    return emit("unsqueeze", x, axes=(arguments.axis("F.unsqueeze", "dim", dim),))


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Remove axes of length 1: ``dim`` ones, or (None) every axis whose dim is the int 1."""
    if dim is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
        return emit("squeeze", x, axes=axes) if axes else x
    given = arguments.axes("F.squeeze", "dim", dim)
    return emit("squeeze", x, axes=given) if given else x  # dim=() squeezes nothing (PyTorch)


def cat(tensors: Sequence[TensorLike], dim: int = 0) -> Tensor:
    return emit("concat", *tensors, axis=arguments.axis("F.cat", "dim", dim))


def split(x: Tensor, split_size: int | Sequence[int], dim: int = 0) -> list[Tensor]:
    """PyTorch's ``split``: chunks of ``split_size`` (last may be smaller) or explicit sizes."""
    total = x.shape[_axis(dim, x, "split")]
    if isinstance(split_size, int):
        if not isinstance(total, int):
            raise TraceError(
                f"split: cannot cut the symbolic dim {total} of {x.value.type} into chunks "
                f"of {split_size}: the number of pieces would depend on {total}",
                loc=user_location(),
                hint="give the explicit sizes, e.g. F.split(x, [a, b], dim)",
            )
        if split_size < 1:
            raise ShapeError(
                f"split: chunk size {split_size} must be >= 1 (splitting {x.value.type})",
                loc=user_location(),
                hint="give a positive chunk size or the explicit sizes",
            )
        sizes = [split_size] * (total // split_size)
        if total % split_size:
            sizes.append(total % split_size)
    else:
        sizes = list(split_size)
    return emit_multi("split", x, axis=dim, sizes=sizes)


def expand(x: Tensor, *shape: Any) -> Tensor:
    return emit("expand", x, shape=_shape_arg(shape))


def pad(x: Tensor, pads: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """PyTorch's ``F.pad``: ``pads`` is (last_begin, last_end, prev_begin, prev_end, ...)."""
    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise TraceError(
            f"pad: {tuple(pads)} is not (begin, end) pairs for at most the {x.ndim} dims of "
            f"{x.value.type}",
            loc=user_location(),
            hint="give an even number of pads, last dim first: (left, right, top, bottom, ...)",
        )
    begins, ends = [0] * x.ndim, [0] * x.ndim
    for i in range(len(pads) // 2):
        begins[x.ndim - 1 - i], ends[x.ndim - 1 - i] = pads[2 * i], pads[2 * i + 1]
    mode = {"replicate": "edge"}.get(mode, mode)
    return emit("pad", x, pads=(*begins, *ends), mode=mode, value=value)


def arange(end: Dim, start: Dim = 0) -> Tensor:
    """``[start, end)`` as i64; ``end`` may be a symbolic dim such as ``x.shape[1]``."""
    tracer = current_tracer()
    node = tracer.emit("range", [], {"start": start, "limit": end, "delta": 1})
    return Tensor(node.output)


def scaled_scores(q: Tensor, k: Tensor, scale: float | None = None) -> Tensor:
    """``q @ k^T * scale`` with the default scale ``1/sqrt(head_dim)``."""
    d = q.shape[-1]
    if scale is None:
        if not isinstance(d, int):
            raise TraceError(
                f"attention scores: head dim {d} of q {q.value.type} must be static to derive "
                "the scale 1/sqrt(d)",
                loc=user_location(),
                hint="pass scale= explicitly",
            )
        scale = 1.0 / math.sqrt(d)
    return mul_(matmul(q, transpose(k, -2, -1)), scale)
