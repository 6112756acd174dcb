"""Steps: one node bound to its arrays as a zero-argument closure, and its failures.

A step is ``step() -> None``: everything it touches (the kernel or reference,
the input arrays, the attributes, the output views, the workspace) is bound
when the program is built, as default arguments, so a call does no lookups
beyond the closure's own locals. Two kinds:

- ``kernel_step``: an executor ``Kernel`` writing straight into the output
  views (``backends/planned/kernel.py``);
- ``fallback_step``: a function with ``OpDef.reference``'s signature (the
  op's reference, or a reference-style kernel such as the blocked attention
  kernel), whose results are checked against the outputs' static types and
  copied into the output views. Its results are fresh arrays, so a fallback
  step allocates what its function allocates.

``step_failure`` turns whatever a step raised into the error the reference
interpreter gives for the same failure: nanograph errors keep their class
and gain the op and the input types; anything else becomes
``ExecutionError``; both carry the node's ``loc``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.backends.kernels import KernelFn
from nanograph.backends.planned.kernel import Kernel
from nanograph.ir.attrs import Attrs
from nanograph.ir.errors import ExecutionError, InternalError, NanographError
from nanograph.ir.graph import Node
from nanograph.ir.ops import OpDef
from nanograph.ir.types import DType

Step = Callable[[], None]


def kernel_step(
    kernel: Kernel,
    node: Node,
    inputs: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray],
    workspace: np.ndarray | None,
) -> Step:
    """``kernel.run`` on fixed arrays."""

    def step(
        run: Callable[..., None] = kernel.run,
        ins: tuple[np.ndarray, ...] = tuple(inputs),
        attrs: Attrs = node.attrs,
        outs: tuple[np.ndarray, ...] = tuple(outputs),
        ws: np.ndarray | None = workspace,
    ) -> None:
        run(ins, attrs, outs, ws)

    return step


def fallback_step(
    fn: KernelFn, node: Node, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]
) -> Step:
    """``fn(inputs, attrs)`` checked against ``outputs`` and copied into them."""
    if len(outputs) == 1:
        return _single_output_step(fn, node, tuple(inputs), outputs[0])

    def step(
        fn: KernelFn = fn,
        ins: tuple[np.ndarray, ...] = tuple(inputs),
        attrs: Attrs = node.attrs,
        outs: tuple[np.ndarray, ...] = tuple(outputs),
        node: Node = node,
    ) -> None:
        _copy_all_checked(node, outs, fn(ins, attrs))

    return step


def _single_output_step(
    fn: KernelFn, node: Node, inputs: tuple[np.ndarray, ...], output: np.ndarray
) -> Step:
    def step(
        fn: KernelFn = fn,
        ins: tuple[np.ndarray, ...] = inputs,
        attrs: Attrs = node.attrs,
        out: np.ndarray = output,
        shape: tuple[int, ...] = output.shape,
        dtype: np.dtype = output.dtype,
        copyto: Callable[..., None] = np.copyto,
        node: Node = node,
    ) -> None:
        results = fn(ins, attrs)
        if len(results) == 1:
            (result,) = results
            if type(result) is np.ndarray and result.shape == shape and result.dtype == dtype:
                copyto(out, result)
                return
        _copy_all_checked(node, (out,), results)

    return step


def _copy_all_checked(node: Node, outs: Sequence[np.ndarray], results: Sequence[object]) -> None:
    """Copy each of ``results`` into its output, checking count, dtype and shape first."""
    if len(results) != len(outs):
        _mismatch(node, f"gave {len(results)} results for {len(outs)} outputs")
    for out, result in zip(outs, results, strict=True):
        _copy_checked(node, out, result)


def _copy_checked(node: Node, out: np.ndarray, result: object) -> None:
    """Copy ``result`` into ``out`` if it has exactly ``out``'s dtype and shape."""
    array = np.asarray(result)
    if array.dtype != out.dtype:
        _mismatch(node, f"gave a {array.dtype} result where its output type says {out.dtype}")
    if array.shape != out.shape:
        _mismatch(node, f"gave a result of shape {array.shape} where its type says {out.shape}")
    np.copyto(out, array)


def _mismatch(node: Node, what: str) -> None:
    raise InternalError(
        f"internal error: {node.op} {what}",
        loc=node.loc,
        hint=f"the reference of {node.op} disagrees with its type inference; please report "
        "this with the model",
    )


def step_failure(
    node: Node, opdef: OpDef, inputs: Sequence[np.ndarray], err: Exception
) -> NanographError:
    """The error to raise for ``err``, raised by ``node``'s step on ``inputs``."""
    shown = ", ".join(f"{opdef.input_name(i)}: {_array_type(a)}" for i, a in enumerate(inputs))
    if isinstance(err, NanographError):
        return type(err)(
            f"{node.op}: {err.message} (running on {shown})",
            loc=node.loc or err.loc,
            hint=err.hint,
        )
    return ExecutionError(
        f"{node.op} failed on inputs ({shown}): {type(err).__name__}: {err}",
        loc=node.loc,
        hint=f"the inputs may be outside what {node.op} accepts (e.g. an index out of "
        f"range); if they are valid, this is a bug in nanograph's {node.op}",
    )


def _array_type(array: np.ndarray) -> str:
    """``f32[2,3]``, as the IR writes types."""
    try:
        dtype = str(DType.parse(array.dtype))
    except NanographError:
        dtype = str(array.dtype)
    return f"{dtype}[{','.join(str(n) for n in array.shape)}]"


__all__ = ["Step", "fallback_step", "kernel_step", "step_failure"]
