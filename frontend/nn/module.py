"""``Module`` and ``Parameter``: PyTorch-style containers of weights and submodules.

- Assigning a ``Parameter``, a ``Module`` or (via ``register_buffer``) an array
  to an attribute registers it, in order, like PyTorch.
- ``state_dict()`` and ``load_state_dict()`` use PyTorch's names and layouts,
  so weights move over from a PyTorch model with the same structure. All
  mismatches (missing, unexpected, wrong shape) are reported together.
- Calling a module while tracing opens a name scope, so its nodes are named
  after its path (``layers.0.linear1``).
- Initial weights are deterministic: they come from ``nn.init``'s generator,
  reset with ``nn.manual_seed(seed)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from nanograph.ir.errors import NanographError, StateDictError


class Parameter:
    """A learnable weight: a float32 array owned by a module."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape})"


class Module:
    """Base class of DSL modules. Subclasses define ``forward``."""

    _parameters: dict[str, Parameter]
    _buffers: dict[str, np.ndarray]
    _persistent: set[str]
    _modules: dict[str, Module]
    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", False)

    # registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning {name}"
            )
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array: np.ndarray, persistent: bool = True) -> None:
        """A non-learnable array (BatchNorm statistics, position tables)."""
        array = np.ascontiguousarray(array)
        self._buffers[name] = array
        if persistent:
            self._persistent.add(name)
        object.__setattr__(self, name, array)

    # traversal --------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for path, module in self.named_modules():
            for name, p in module._parameters.items():
                yield (f"{path}.{name}" if path else name), p

    def named_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, np.ndarray]]:
        for path, module in self.named_modules():
            for name, b in module._buffers.items():
                if persistent_only and name not in module._persistent:
                    continue
                yield (f"{path}.{name}" if path else name), b

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        """Number of learnable scalars (buffers not counted)."""
        return int(sum(p.data.size for p in self.parameters()))

    # state dict -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and persistent buffers by PyTorch name (arrays are copies).

        In PyTorch's order: module by module, each module's parameters, then its buffers.
        """
        out: dict[str, np.ndarray] = {}
        for path, module in self.named_modules():
            pre = f"{path}." if path else ""
            for name, p in module._parameters.items():
                out[pre + name] = p.data.copy()
            for name, b in module._buffers.items():
                if name in module._persistent:
                    out[pre + name] = b.copy()
        return out

    def _convert_state(self, state: dict[str, Any], prefix: str) -> None:
        """Hook: rewrite ``state`` entries under ``prefix`` from another layout (in place)."""

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Accepts NumPy arrays or anything with ``.numpy()``/``__array__`` (torch
        tensors). Names and shapes must match; every problem is reported in
        one ``StateDictError``. ``strict=False`` ignores missing and unexpected
        names but never a shape mismatch.
        """
        given = {k: _to_numpy(v) for k, v in state.items()}
        for path, module in self.named_modules():
            module._convert_state(given, f"{path}." if path else "")
        targets = self._load_targets()
        ignored = {k for k in given if k.endswith("num_batches_tracked")}
        missing = [k for k in targets if k not in given]
        unexpected = [k for k in given if k not in targets and k not in ignored]
        wrong = [
            f"{k}: expected {list(targets[k][2])}, got {list(given[k].shape)}"
            for k in targets
            if k in given and tuple(given[k].shape) != targets[k][2]
        ]
        problems = []
        if wrong:
            problems.append("shape mismatch: " + "; ".join(wrong))
        if strict and missing:
            problems.append("missing: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected: " + ", ".join(unexpected))
        if problems:
            raise StateDictError(
                f"cannot load state dict into {type(self).__name__}:\n  " + "\n  ".join(problems),
                hint="names and layouts follow PyTorch (Linear weight [out, in], Conv2d OIHW)",
            )
        for key, (module, attr, _shape) in targets.items():
            if key in given:
                module._assign(attr, given[key])

    def _load_targets(self) -> dict[str, tuple[Module, str, tuple[int, ...]]]:
        out: dict[str, tuple[Module, str, tuple[int, ...]]] = {}
        for path, module in self.named_modules():
            pre = f"{path}." if path else ""
            for name, p in module._parameters.items():
                out[pre + name] = (module, name, p.shape)
            for name, b in module._buffers.items():  # dict order: reports are deterministic
                if name in module._persistent:
                    out[pre + name] = (module, name, tuple(b.shape))
        return out

    def _assign(self, attr: str, array: np.ndarray) -> None:
        if attr in self._parameters:  # a copy: the caller may reuse its array
            self._parameters[attr].data = np.array(array, dtype=np.float32, order="C", copy=True)
        else:
            old = self._buffers[attr]
            self.register_buffer(attr, array.astype(old.dtype), persistent=True)

    # calling ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward``; while tracing, inside this module's name scope.

        The module's output is named after its path (``layers.0.linear1``) when
        its own code produced it, and errors raised inside it say which module
        they came from ("in module layers.0.linear1 (Linear)").
        """
        from nanograph.frontend.tensor import Tensor
        from nanograph.frontend.tracer import _CURRENT, in_module

        tracer = _CURRENT.get()
        path = tracer.module_paths.get(id(self)) if tracer is not None else None
        if tracer is None or not path:
            return self.forward(*args, **kwargs)
        tracer.scopes.append(path)
        try:
            out = self.forward(*args, **kwargs)
        except NanographError as err:
            in_module(err, path, type(self).__name__)
            raise
        finally:
            tracer.scopes.pop()
        if isinstance(out, Tensor):
            tracer.name_module_output(out.value, path)
        return out

    def eval(self) -> Module:
        """Inference mode (the only mode nanograph has); returns self."""
        return self

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): {child_lines[0]}")
            lines.extend("  " + line for line in child_lines[1:])
        return "\n".join(lines) + ("\n)" if len(lines) > 1 else ")")


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
