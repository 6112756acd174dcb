"""Errors raised by nanograph, written for people.

Every error says what was wrong, where (``loc``: the model's ``file:line`` or
the ONNX node name) and, where we know, how to fix it. All derive from
``NanographError`` so callers can catch one type.
"""

from __future__ import annotations


class NanographError(Exception):
    """Base class. ``loc`` is where the problem is, or ``""`` when unknown."""

    def __init__(self, message: str, loc: str = "", hint: str = "") -> None:
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        text = self.message
        if self.loc:
            text = f"{text}\n  at {self.loc}"
        if self.hint:
            text = f"{text}\n  fix: {self.hint}"
        return text

    def at(self, loc: str) -> NanographError:
        """Return a copy of this error located at ``loc`` (keeps the subclass)."""
        return type(self)(self.message, loc=loc, hint=self.hint)


class ShapeError(NanographError):
    """Tensor shapes are incompatible with an op (or a dim cannot be proven equal)."""


class DTypeError(NanographError):
    """A tensor's element type is not one the op accepts."""


class AttributeValueError(NanographError):
    """An op attribute is unknown, missing, or of the wrong type or range."""


class UnknownOpError(NanographError):
    """An op name that the registry does not define."""


class VerificationError(NanographError):
    """The graph breaks an IR invariant (SSA, order, types, cycles, ...)."""


class ParseError(NanographError):
    """The IR text form could not be parsed."""


class InputError(NanographError):
    """The arrays given to run a graph do not match its inputs."""


class StateDictError(NanographError):
    """Weights given to ``load_state_dict`` do not match the module."""


class ModelLoadError(NanographError):
    """A MODEL argument (zoo name, Python file) could not be loaded."""


class OnnxLoadError(ModelLoadError):
    """An ONNX file is empty, truncated, not ONNX, invalid, or its external data is unsafe."""


class UnsupportedOpError(NanographError):
    """An ONNX op (or a form of it: an attribute, dtype or data-dependent shape) that the
    importer cannot represent in the IR; the message names every such node."""


class TraceError(NanographError):
    """The DSL was used outside ``trace`` or with something it cannot record."""


class ExecutionError(NanographError):
    """An op's reference failed while running a node (the original error is its cause)."""


class ResourceLimitError(NanographError):
    """Running would need more memory than the memory limit allows; refused before allocating
    (see ``nanograph.backends.memory_limit``). The message gives the estimate, the limit, the
    largest tensor and the symbol bindings."""


class InternalError(NanographError):
    """nanograph broke its own contract, e.g. a node's result disagrees with its type."""


class ConfigError(NanographError):
    """An unknown or unavailable level or backend."""


class OutputFileError(NanographError):
    """A result file could not be written."""


class ProviderUnavailableError(NanographError):
    """An onnxruntime execution provider asked for explicitly (e.g. CUDA) cannot be used here."""


class OnnxRuntimeError(NanographError):
    """onnxruntime refused a model or failed while running it (its message is the cause)."""


class NanographWarning(UserWarning):
    """Base class of nanograph's warnings."""


class InputConversionWarning(NanographWarning):
    """Input arrays were converted (cast or made contiguous) before running."""


class InputRangeWarning(NanographWarning):
    """Random integer inputs of an imported model use a guessed value range."""


class ProviderFallbackWarning(NanographWarning):
    """onnxruntime runs on a fallback provider (CPU) because the preferred one (CUDA) is missing."""


class OnnxImportWarning(NanographWarning):
    """The ONNX importer read an ambiguous part of a model one way and says which: a negative
    input dim read as unknown, an initializer named like a graph input kept as a constant."""
