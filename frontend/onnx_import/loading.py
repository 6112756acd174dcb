"""Reading an ONNX model from a path, bytes or a ``ModelProto``, and validating it.

``load_onnx(model)`` returns a ``LoadedOnnx``: a private copy of the model
(the caller's proto is never changed) with external data loaded, local
functions inlined, and ``onnx.checker`` passed. Every failure is an
``OnnxLoadError`` (a ``ModelLoadError``) that says what is wrong in words:
a missing, empty, truncated or non-ONNX file; an opset newer than 28; an
invalid model (the checker's message); unsafe external data. Protobuf and
checker exceptions never escape.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.checker
import onnx.inliner
from google.protobuf.message import DecodeError

from nanograph.frontend.onnx_import.external_data import load_external_data
from nanograph.frontend.onnx_import.node_order import check_node_order
from nanograph.ir.errors import OnnxLoadError

MIN_OPSET = 13
MAX_OPSET = 28
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class LoadedOnnx:
    """A validated model: the proto, where it came from, and its opset per domain."""

    model: onnx.ModelProto
    source: str
    opsets: dict[str, int]

    @property
    def opset(self) -> int:
        """The version of the default ONNX domain."""
        return self.opsets[""]


def _read_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise OnnxLoadError(
            f"no such ONNX file: {path}", hint="check the path (relative to the working folder)"
        ) from None
    except IsADirectoryError:
        raise OnnxLoadError(
            f"{path} is a directory, not an ONNX file", hint="name the .onnx file inside it"
        ) from None
    except OSError as err:
        raise OnnxLoadError(
            f"cannot read {path}: {err.strerror}", hint="check the file's permissions"
        ) from None
    if not data:
        raise OnnxLoadError(f"{path} is empty", hint="re-export the model")
    return data


def _parse(data: bytes, source: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError, TypeError):
        raise OnnxLoadError(
            f"{source} is not a readable ONNX model: its bytes are not a valid ONNX protobuf "
            f"({len(data)} bytes; truncated, corrupted, or another format)",
            hint="check that the file is a complete .onnx model (re-export or re-download it)",
        ) from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise OnnxLoadError(
            f"{source} is not an ONNX model: it has no IR version or no graph",
            hint="check that the file is a complete .onnx model",
        )
    return model


def _opsets(model: onnx.ModelProto, source: str) -> dict[str, int]:
    opsets = {
        ("" if o.domain in DEFAULT_DOMAINS else o.domain): o.version for o in model.opset_import
    }
    version = opsets.get("")
    if version is None:
        raise OnnxLoadError(
            f"{source} imports no version of the default ONNX domain",
            hint="add an opset_import for domain '' (e.g. onnx.helper.make_opsetid('', 17))",
        )
    # Below MIN_OPSET a model still imports when every op it uses is at a schema version
    # a converter handles (And is the same at opset 7 and 13); the per-node check in
    # ``unsupported`` names each op whose version is not handled, with the fix.
    if version < 1:
        raise OnnxLoadError(
            f"{source} declares the invalid ONNX opset {version}",
            hint=f"declare an opset from {MIN_OPSET} to {MAX_OPSET} for domain ''",
        )
    if version > MAX_OPSET:
        raise OnnxLoadError(
            f"{source} uses ONNX opset {version}, newer than nanograph knows ({MAX_OPSET})",
            hint=f"export at opset {MAX_OPSET} or lower",
        )
    return opsets


_CONTEXT = re.compile(r"\s*==> Context:.*?Name: (\S*) OpType: (\S+).*", re.DOTALL)


def _check(model: onnx.ModelProto, source: str) -> None:
    """``onnx.checker``, after ``check_node_order`` (which names the node where the checker
    does not); the checker's message is kept whole, on one line, its node as ``loc``."""
    check_node_order(model.graph, source)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as err:
        text = str(err).strip() or type(err).__name__
        loc = ""
        context = _CONTEXT.search(text)
        if context is not None:
            name, op_type = context.groups()
            loc = name or f"a {op_type} node"
            text = text[: context.start()]
        text = " ".join(text.split())
        if len(text) > 600:
            text = text[:600] + " ..."
        raise OnnxLoadError(
            f"{source} is not a valid ONNX model: {text}",
            loc=loc,
            hint="onnx.checker.check_model reports this; fix the exporter or the model",
        ) from None


def load_onnx(model: str | os.PathLike[str] | onnx.ModelProto | bytes) -> LoadedOnnx:
    """Read, copy and validate ``model`` (see module docstring)."""
    base_dir: Path | None = None
    if isinstance(model, onnx.ModelProto):
        source = f"ONNX model {model.graph.name or '(unnamed)'}"
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
    elif isinstance(model, (bytes, bytearray, memoryview)):
        source = "the ONNX bytes"
        if not model:
            raise OnnxLoadError(
                "the ONNX bytes are empty (0 bytes)",
                hint="pass the whole file's contents (open(path, 'rb').read()) or its path; "
                "check that the file was written completely",
            )
        proto = _parse(bytes(model), source)
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        source = str(path)
        proto = _parse(_read_file(path), source)
        base_dir = path.parent
    else:
        raise OnnxLoadError(
            f"cannot import a {type(model).__name__} as ONNX",
            hint="pass a path, the file's bytes, or an onnx.ModelProto",
        )
    opsets = _opsets(proto, source)
    load_external_data(proto, base_dir, source)
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    _check(proto, source)
    return LoadedOnnx(proto, source, opsets)


__all__ = ["MAX_OPSET", "MIN_OPSET", "LoadedOnnx", "load_onnx"]
