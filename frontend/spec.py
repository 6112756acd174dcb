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

from nanograph.frontend.tracer import user_location
from nanograph.ir.dims import Dim, SymExpr, parse_dim, substitute
from nanograph.ir.errors import InputError, NanographError, ShapeError
from nanograph.ir.types import DType, TensorType


def _input_dim(name: str, axis: int, d: object) -> Dim:
    """One dim of an input: an int >= 1, a symbol name (``"N"``) or an expression of them."""
    hint = 'give each dim as an int >= 1 or a symbol name such as "N" (a size chosen at run time)'
    if isinstance(d, SymExpr):
        return d
    if isinstance(d, str):
        try:
            return parse_dim(d)
        except NanographError as err:
            raise ShapeError(
                f"input {name!r}: dim {axis} {d!r} is not a symbol or a dim expression "
                f"({err.message})",
                loc=user_location(),
                hint=hint,
            ) from None
    is_int = isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
    if is_int and d >= 1:  # type: ignore[operator]
        return int(d)  # type: ignore[call-overload]
    what = "must be at least 1" if is_int else f"is a {type(d).__name__}, not an int"
    raise ShapeError(
        f"input {name!r}: dim {axis} is {d!r}, which {what}", loc=user_location(), hint=hint
    )


def _input_shape(name: str, shape: object) -> tuple[Dim, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise ShapeError(
            f"input {name!r}: shape {shape!r} is not a tuple of dims",
            loc=user_location(),
            hint='give the shape as a tuple, e.g. ("N", 4), not a string',
        )
    return tuple(_input_dim(name, axis, d) for axis, d in enumerate(shape))


@dataclass(frozen=True)
class InputSpec:
    """One model input: ``name``, ``shape`` (ints or symbols), ``dtype``, value range.

    Checked when written: a non-empty name, dims that are ints >= 1 or symbol names
    (or expressions of them), a supported dtype, and a value range for integer inputs.
    """

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
        if not isinstance(name, str) or not name.strip():
            raise InputError(
                f"an input's name must be a non-empty str, got {name!r}",
                loc=user_location(),
                hint='name each input, e.g. ng.InputSpec("x", ("N", 4)); the name is how '
                "inputs are fed at run time",
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "shape", _input_shape(name, shape))
        try:
            object.__setattr__(self, "dtype", DType.parse(dtype))
        except NanographError as err:
            raise type(err)(
                f"input {name!r}: {err.message}", loc=user_location(), hint=err.hint
            ) from None
        object.__setattr__(self, "value_range", value_range)
        if self.dtype.is_int and value_range is None:
            raise InputError(
                f"input {name!r} is {self.dtype} and has no value_range",
                loc=user_location(),
                hint="give value_range=(low, high) so that example inputs are valid "
                "(e.g. token ids below the vocabulary size)",
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
        names = [spec.name for spec in self.inputs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(
                f"input name {', '.join(map(repr, twice))} is given to more than one input",
                loc=user_location(),
                hint="give every InputSpec its own name (inputs are fed by name)",
            )

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
