"""Safe loading of model files: skops, ONNX, and (operator only) joblib/pickle.

The only module that imports skops, onnx and onnxruntime. Every loader answers a
``ModelRuntime``: one ``predict`` over a numpy matrix, and what the model says about itself
(classifier or not, classes, input width, feature names).

Safety rules, checked before anything in the file can run:

* skops: the types the file holds beyond skops' own safe set (``get_untrusted_types``) must all
  be on the server's allow-list; the file's own list is only compared, never passed on.
* skops: the Cython-backed estimators the allow-list admits (trees, HistGradientBoosting) have
  their arrays checked before anything predicts (``structure``): the compiled code trusts them.
* ONNX: the graph is parsed without loading external data, and any tensor stored outside the
  file, anywhere in the model, refuses it, as does an operator domain onnxruntime cannot run
  (``onnx_check``). The session is made from the bytes, with external data (which cannot be
  there) looked for in an empty folder only.
* pickle/joblib: the caller must have checked the uploader may run code on this server; this
  module only loads.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from modelyard.registry import onnx_check
from modelyard.registry.structure import StructureError, check_structure

__all__ = [
    "FORMATS",
    "ExternalData",
    "LoadError",
    "ModelFormat",
    "ModelRuntime",
    "OnnxInput",
    "Prediction",
    "UnsafeStructure",
    "UnsupportedDomain",
    "UntrustedTypes",
    "detect_format",
    "load_model",
    "summarise",
]

log = logging.getLogger(__name__)

ModelFormat = Literal["skops", "onnx", "pickle", "joblib"]
FORMATS: tuple[ModelFormat, ...] = ("skops", "onnx", "pickle", "joblib")
CODE_RUNNING_FORMATS = frozenset({"pickle", "joblib"})


class LoadError(ValueError):
    """The file is not a model this server can load; the message says why."""


class UntrustedTypes(LoadError):
    def __init__(self, types: Sequence[str]) -> None:
        self.types = list(types)
        super().__init__("the skops file holds types that are not allowed: " + ", ".join(types))


class UnsafeStructure(LoadError):
    """A loaded estimator's arrays would drive scikit-learn's compiled code out of bounds."""


class ExternalData(LoadError):
    """An ONNX tensor keeps its data in another file."""


class UnsupportedDomain(LoadError):
    """An ONNX node needs an operator domain onnxruntime cannot run."""


@dataclass
class Prediction:
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


@dataclass(frozen=True)
class OnnxInput:
    name: str
    shape: tuple[int | str | None, ...]
    element_type: str


class ModelRuntime(Protocol):
    """A loaded model, ready to predict; safe to call from several threads."""

    kind: Literal["classifier", "regressor"]
    classes: list[Any] | None
    n_features: int | None
    feature_names: list[str] | None

    def predict(self, matrix: np.ndarray) -> Prediction: ...


# onnxruntime's messages name its build tree (``/onnxruntime_src/.../graph.cc:1377``) and
# C++ signatures; Python's and scikit-learn's may name files of this machine. None of it is the
# caller's business, and some of it maps the server for an attacker.
_ORT_PREFIX = re.compile(r"\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
_SOURCE_LINE = re.compile(r"\S*\.(?:cc|cpp|cxx|c|h|hpp|pyx|pxd|py|so)\b(?::\d+)?")
_SIGNATURE = re.compile(r"\b\w+(?:::~?\w+)+(?:\((?:[^()]|\([^()]*\))*\))?(?:\s*const)?")
_PATH = re.compile(
    r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/\"':,;()\[\]]+){2,}[\\/]?"
    r"|(?:\.\.?[\\/])+[^\s\"':,;()\[\]]*"
)
_SUMMARY_CHARS = 300


def _without_locations(text: str) -> str:
    """``text`` without source locations, nor the C++ signature onnxruntime writes after one
    (``graph.cc:1587 void onnxruntime::Graph::Init...() This is...`` keeps ``This is...``)."""
    out, position = [], 0
    for match in _SOURCE_LINE.finditer(text):
        if match.start() < position:
            continue
        out.append(text[position : match.start()])
        position = match.end()
        opening = text.find("(", position)
        name = text[position:opening]
        if opening != -1 and ("::" in name or name.strip() == "operator") and "." not in name:
            depth, end = 0, opening
            for end in range(opening, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            position = end + 1
            if text.startswith(" const", position):
                position += len(" const")
    return "".join(out) + text[position:]


def summarise(exc: BaseException) -> str:
    """A model library's error as the caller may see it: one line, no file paths, no source
    locations, at most a few hundred characters. The full text goes to the server's log."""
    text = str(exc)
    parts = [p for p in _ORT_PREFIX.split(text) if p.strip()]
    if len(parts) > 1 or _ORT_PREFIX.search(text):
        # onnxruntime wraps causes in outer errors; the last part is the specific one.
        text = parts[-1] if parts else text
    text = _without_locations(text)
    text = _SIGNATURE.sub("", text)
    text = _PATH.sub("<path>", text)
    text = " ".join(text.split()).strip(" :") or type(exc).__name__
    if len(text) > _SUMMARY_CHARS:
        text = text[: _SUMMARY_CHARS - 3].rstrip() + "..."
    if text != str(exc):
        log.warning("model library error, answered as %r: %s: %s", text, type(exc).__name__, exc)
    return text


def detect_format(data: bytes) -> ModelFormat | None:
    """Guess a file's format from its first bytes (``None``: not one we know)."""
    if data[:4] == b"PK\x03\x04":
        return "skops"
    # Pickle protocols 2 to 5 open with PROTO; joblib's compressed files with zlib/gzip/xz.
    if data[:1] == b"\x80" or data[:2] in (b"x\x9c", b"\x1f\x8b") or data[:6] == b"\xfd7zXZ\x00":
        return "pickle"
    # An ONNX ModelProto opens with ir_version (field 1, varint: 0x08).
    if data[:1] == b"\x08":
        return "onnx"
    return None


def _tolist(values: Any) -> list[Any]:
    return np.asarray(values).tolist()


@dataclass
class SklearnRuntime:
    model: Any
    kind: Literal["classifier", "regressor"] = "regressor"
    classes: list[Any] | None = None
    n_features: int | None = None
    feature_names: list[str] | None = None
    # The model's own embedding of its inputs (one row of numbers per row), when it has one:
    # the training domain's minilm models do. Visualization projects these instead of raw input.
    embed: Callable[[Any], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if not callable(getattr(self.model, "predict", None)):
            raise LoadError("the object has no predict method")
        embed = getattr(self.model, "embed", None)
        self.embed = embed if callable(embed) else None
        classes = getattr(self.model, "classes_", None)
        if classes is not None and callable(getattr(self.model, "predict_proba", None)):
            self.kind = "classifier"
            self.classes = _tolist(classes)
        n_features = getattr(self.model, "n_features_in_", None)
        self.n_features = int(n_features) if isinstance(n_features, int | np.integer) else None
        names = getattr(self.model, "feature_names_in_", None)
        self.feature_names = [str(name) for name in names] if names is not None else None

    def predict(self, matrix: np.ndarray) -> Prediction:
        import sklearn

        # A float matrix of finite numbers only: scikit-learn may skip its own check of that
        # (``assume_finite``, set for this thread only), 10-30 us on 100 rows of 20 where numpy's
        # ``isfinite`` takes 2.5. Anything else gets scikit-learn's check as before, which refuses
        # a NaN or, for a model that takes NaN, lets it through.
        if (
            matrix.dtype.kind != "f"
            or not np.isfinite(matrix).all()
            or sklearn.get_config()["assume_finite"]
        ):
            return self._predict(matrix)
        sklearn.set_config(assume_finite=True)
        try:
            return self._predict(matrix)
        finally:
            sklearn.set_config(assume_finite=False)

    def _predict(self, matrix: np.ndarray) -> Prediction:
        if self.kind == "classifier":
            probabilities = np.asarray(self.model.predict_proba(matrix))
            assert self.classes is not None
            labels = np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]
            return Prediction(_tolist(labels), probabilities.tolist(), self.classes)
        return Prediction(_tolist(self.model.predict(matrix)))


def _load_skops(data: bytes, trusted_types: Sequence[str]) -> Any:
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"not a skops file: {summarise(exc)}") from exc
    unlisted = sorted(set(found) - set(trusted_types))
    if unlisted:
        raise UntrustedTypes(unlisted)
    try:
        # The server's list, not the file's: skops refuses anything else the file holds.
        obj = sio.loads(data, trusted=list(trusted_types))
    except Exception as exc:
        raise LoadError(f"the skops file cannot be loaded: {summarise(exc)}") from exc
    try:
        check_structure(obj)
    except StructureError as exc:
        raise UnsafeStructure(f"the model's structure is unsafe: {exc}") from exc
    except Exception as exc:
        # Arrays of the wrong kind altogether (strings for counts, say): not checkable, so
        # not loadable either.
        raise UnsafeStructure(f"the model's structure cannot be checked: {summarise(exc)}") from exc
    return obj


_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


@dataclass
class OnnxRuntime:
    session: Any
    classes: list[Any] | None
    kind: Literal["classifier", "regressor"] = "regressor"
    n_features: int | None = None
    feature_names: list[str] | None = None
    inputs: list[OnnxInput] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inputs = [OnnxInput(i.name, tuple(i.shape), i.type) for i in self.session.get_inputs()]
        outputs = self.session.get_outputs()
        self._output_names = [o.name for o in outputs]
        if len(self.inputs) == 1 and len(self.inputs[0].shape) == 2:
            width = self.inputs[0].shape[1]
            self.n_features = width if isinstance(width, int) else None
        elif all(len(i.shape) == 2 and i.shape[1] == 1 for i in self.inputs):
            self.n_features = len(self.inputs)
            self.feature_names = [i.name for i in self.inputs]
        if len(outputs) >= 2 and self.classes is not None:
            self.kind = "classifier"

    def _feeds(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            only = self.inputs[0]
            return {only.name: matrix.astype(_ORT_TYPES.get(only.element_type, np.float32))}
        return {
            spec.name: matrix[:, [i]].astype(_ORT_TYPES.get(spec.element_type, np.float32))
            for i, spec in enumerate(self.inputs)
        }

    def predict(self, matrix: np.ndarray) -> Prediction:
        results = self.session.run(None, self._feeds(matrix))
        if self.kind != "classifier":
            return Prediction(_tolist(results[0]))
        assert self.classes is not None
        raw = results[1]
        if isinstance(raw, list):  # skl2onnx's ZipMap: one {class: probability} per row
            probabilities = [[float(row[c]) for c in self.classes] for row in raw]
        else:
            probabilities = np.asarray(raw, dtype=np.float64).tolist()
        return Prediction(_tolist(results[0]), probabilities, self.classes)


def _onnx_classes(model: Any) -> list[Any] | None:
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_ints", "classlabels_int64s") and attribute.ints:
                return list(attribute.ints)
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [s.decode() for s in attribute.strings]
    return None


def _load_onnx(data: bytes) -> OnnxRuntime:
    import onnx
    import onnxruntime as ort
    from google.protobuf.message import DecodeError

    try:
        # From a string: no external data is loaded, and no path is resolved.
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise LoadError(f"not an ONNX model: {summarise(exc)}") from exc
    if not model.graph.node and not model.graph.input:
        raise LoadError("not an ONNX model: the graph is empty")
    try:
        onnx_check.check_onnx_model(model)
    except onnx_check.ExternalData as exc:
        raise ExternalData(
            f"ONNX models that keep tensors in external files are refused: {exc}"
        ) from exc
    except onnx_check.UnsupportedDomain as exc:
        raise UnsupportedDomain(str(exc)) from exc
    options = ort.SessionOptions()
    # One model call per request thread; ORT's own pool would fight the server's threads.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory(prefix="modelyard-onnx-") as empty:
        # Belt and braces: onnxruntime (1.31) has no switch that refuses external data, but a
        # model loaded from bytes looks for it in this folder instead of the working directory;
        # an empty one has nothing to read. Only the session's creation reads it.
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", empty
        )
        # What was checked is an ONNX protobuf; bytes that also carry ORT's flatbuffer mark
        # ("ORTM" at offset 4, which a protobuf string field can put there) would otherwise be
        # read as an ORT-format model that no check above has seen.
        options.add_session_config_entry("session.load_model_format", "ONNX")
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise LoadError(f"onnxruntime cannot load the model: {summarise(exc)}") from exc
    return OnnxRuntime(session=session, classes=_onnx_classes(model))


def _load_pickle(data: bytes) -> Any:
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise LoadError(f"the pickle cannot be loaded: {summarise(exc)}") from exc


def load_model(
    data: bytes, model_format: ModelFormat, *, trusted_types: Sequence[str]
) -> ModelRuntime:
    """Load ``data`` as ``model_format``; raise ``LoadError`` (never anything else) on failure."""
    if not data:
        raise LoadError("the file is empty")
    if model_format == "onnx":
        return _load_onnx(data)
    obj = _load_skops(data, trusted_types) if model_format == "skops" else _load_pickle(data)
    try:
        return SklearnRuntime(obj)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"the object is not a usable model: {summarise(exc)}") from exc
