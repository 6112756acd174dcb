"""Input specifications: what a model takes, and how to make valid example inputs.

``InputSpec`` names one input: its shape (ints or symbol names such as ``"N"``
or ``"S"``), dtype, and for integer or boolean inputs the legal value range
``[low, high)`` so that seeded random inputs are valid (token ids below the
vocabulary size). ``ModelSpec`` is the list of a model's inputs plus example
sizes for its symbols (used when the user binds none, e.g. ``S=64``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nanograph.ir.dims import Dim, as_dim, substitute
from nanograph.ir.errors import InputError
from nanograph.ir.types import DType, TensorType


@dataclass(frozen=True)
class InputSpec:
    """One model input: ``name``, ``shape`` (ints or symbols), ``dtype``, value range."""

    name: str
    shape: tuple[Dim, ...]
    dtype: DType = DType.f32
    value_range: tuple[float, float] | None = None

    def __init__(
        self,
        name: str,
        shape: Iterable[object],
        dtype: object = "f32",
        value_range: tuple[float, float] | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "shape", tuple(as_dim(d) for d in shape))
        object.__setattr__(self, "dtype", DType.parse(dtype))
        object.__setattr__(self, "value_range", value_range)
        if self.dtype.is_int and value_range is None:
            raise InputError(
                f"input {name!r} is {self.dtype}: give value_range=(low, high) so that "
                "example inputs are valid (e.g. token ids below the vocabulary size)"
            )

    @property
    def type(self) -> TensorType:
        return TensorType(self.dtype, self.shape)

    def concrete_shape(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        """The shape with symbols bound by ``dims``; raises if a symbol is unbound."""
        out = []
        for d in self.shape:
            value = substitute(d, dims)
            if not isinstance(value, int):
                raise InputError(
                    f"input {self.name!r}: dimension {d} is not bound",
                    hint="bind its symbols, e.g. --dims "
                    + ",".join(f"{s}=1" for s in sorted(value.symbols())),
                )
            out.append(value)
        return tuple(out)

    def random(self, rng: np.random.Generator, dims: Mapping[str, int]) -> np.ndarray:
        """A seeded example array: standard normal floats, uniform ints in range, random bools."""
        shape = self.concrete_shape(dims)
        if self.dtype == DType.bool:
            return rng.random(shape) < 0.5
        if self.dtype.is_int:
            assert self.value_range is not None
            low, high = self.value_range
            return rng.integers(int(low), int(high), size=shape).astype(self.dtype.numpy)
        if self.value_range is not None:
            low, high = self.value_range
            return rng.uniform(low, high, size=shape).astype(self.dtype.numpy)
        return rng.standard_normal(shape).astype(self.dtype.numpy)


@dataclass(frozen=True)
class ModelSpec(Sequence[InputSpec]):
    """A model's inputs (a sequence of ``InputSpec``) and example sizes of its symbols."""

    inputs: tuple[InputSpec, ...]
    example_dims: Mapping[str, int] = field(default_factory=dict)

    def __init__(self, inputs: Iterable[InputSpec], example_dims: Mapping[str, int] | None = None):
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "example_dims", dict(example_dims or {}))

    def __getitem__(self, index: int) -> InputSpec:  # type: ignore[override]
        return self.inputs[index]

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[InputSpec]:
        return iter(self.inputs)

    def symbols(self) -> list[str]:
        """Every symbol named in an input shape, in first-seen order."""
        seen: dict[str, None] = {}
        for spec in self.inputs:
            for d in spec.shape:
                if not isinstance(d, int):
                    for s in sorted(d.symbols()):
                        seen.setdefault(s, None)
        return list(seen)

    def resolve_dims(self, dims: Mapping[str, int] | None = None) -> dict[str, int]:
        """Bindings for every symbol: ``dims`` first, then ``example_dims``, then 1."""
        given = dict(dims or {})
        unknown = sorted(set(given) - set(self.symbols()))
        if unknown:
            raise InputError(
                f"--dims names {', '.join(unknown)}, which no input uses",
                hint=f"this model's symbols are: {', '.join(self.symbols()) or 'none'}",
            )
        return {s: given.get(s, self.example_dims.get(s, 1)) for s in self.symbols()}

    def random_inputs(
        self, seed: int = 0, dims: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray]:
        """Seeded example inputs keyed by input name (symbols bound by ``resolve_dims``)."""
        rng = np.random.default_rng(seed)
        bound = self.resolve_dims(dims)
        return {spec.name: spec.random(rng, bound) for spec in self.inputs}


def as_model_spec(specs: object) -> ModelSpec:
    """Accept a ModelSpec, one InputSpec, or a sequence of InputSpecs."""
    if isinstance(specs, ModelSpec):
        return specs
    if isinstance(specs, InputSpec):
        return ModelSpec([specs])
    if isinstance(specs, (list, tuple)) and all(isinstance(s, InputSpec) for s in specs):
        return ModelSpec(specs)
    raise InputError(
        f"expected InputSpec(s) or a ModelSpec, got {type(specs).__name__}",
        hint='describe each input, e.g. ng.InputSpec("x", ("N", 3, 32, 32))',
    )
