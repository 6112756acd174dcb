"""The catalogue's one check: an error of the right type that says what, where and how to fix."""

from __future__ import annotations

from nanograph.ir.errors import NanographError


def assert_clear(
    error: BaseException, kind: type[NanographError], what: str, where: str
) -> NanographError:
    """``error`` is a ``kind`` whose message contains ``what`` and ``where`` and has a fix hint.

    ``where`` is the model's source line, the ONNX node name, the file, or the
    IR text line; the hint is the ``fix:`` part of the message.
    """
    assert isinstance(error, kind), f"expected {kind.__name__}, got {type(error).__name__}: {error}"
    text = str(error)
    assert what in text, f"{what!r} not in message:\n{text}"
    assert where in text, f"{where!r} not in message:\n{text}"
    assert error.hint and "\n  fix: " in text, f"no fix hint in:\n{text}"
    return error
