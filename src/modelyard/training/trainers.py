"""Document classifiers: the only module that builds the trainers' models.

A trained model is one scikit-learn estimator taking an ``(n, 1)`` matrix of texts (one ``text``
column, the form the registry's ``str`` input schema gives) and predicting label names. It is
kept as a skops file, which loads without running code, so the registry can serve the very
same file:

* ``tfidf-logreg``: a pipeline of TF-IDF (words and word pairs) and logistic regression;
* ``minilm``: ``embedding.SentenceEmbeddingClassifier``, a reference to the packaged
  all-MiniLM-L6-v2 encoder plus logistic regression on its sentence embeddings. Its file holds
  one type beyond skops' defaults, the classifier itself, which this module trusts by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.registry.loaders import ModelRuntime, load_model
from modelyard.training.encoder import (
    ENCODER_DIMENSION,
    ENCODER_PACKAGE,
    encoder_version,
    missing_requirements,
)

# scikit-learn (and ``embedding``, whose class subclasses its estimators) is imported by the
# functions that train and evaluate: 1 s of CPU and 200 MB that a server's start should not pay.
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from modelyard.training.embedding import SentenceEmbeddingClassifier

__all__ = [
    "TRAINERS",
    "TRUSTED_TYPES",
    "Split",
    "TextModel",
    "TrainerUnavailable",
    "available_trainers",
    "encoder_reference",
    "evaluate",
    "load_text_model",
    "split",
    "text_matrix",
    "train",
]

TRAINERS = ("tfidf-logreg", "minilm")
# The one type a trained model's skops file holds beyond skops' own safe set.
# embedding.EMBEDDER_TYPE, spelled out so that checking a file does not import scikit-learn.
TRUSTED_TYPES = ("modelyard.training.embedding.SentenceEmbeddingClassifier",)
INPUT_SCHEMA = [{"name": "text", "type": "str"}]

Progress = Callable[[float, str], None]


class TrainerUnavailable(RuntimeError):
    """The trainer needs a package this server does not have."""


@dataclass
class Split:
    train_texts: list[str]
    train_labels: list[str]
    valid_texts: list[str]
    valid_labels: list[str]


def split(texts: Sequence[str], labels: Sequence[str], *, fraction: float, seed: int) -> Split:
    """A stratified train/validation split, the same for the same data and seed.

    ``fraction`` of the documents validate, but never fewer than one per label nor more than
    leave one per label to train: a handful of documents per label still splits (scikit-learn
    refuses a validation part smaller than the number of labels).
    """
    from sklearn.model_selection import train_test_split

    count, classes = len(labels), len(set(labels))
    valid_count = min(max(math.ceil(fraction * count), classes), count - classes)
    train_x, valid_x, train_y, valid_y = train_test_split(
        list(texts), list(labels), test_size=valid_count, random_state=seed, stratify=list(labels)
    )
    return Split(list(train_x), list(train_y), list(valid_x), list(valid_y))


def text_matrix(texts: Sequence[str]) -> np.ndarray:
    matrix = np.empty((len(texts), 1), dtype=object)
    matrix[:, 0] = list(texts)
    return matrix


def _tfidf_logreg(seed: int, documents: int) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    # Word pairs seen once are most of a bigram vocabulary and carry nothing a classifier can
    # reuse; dropping them keeps the fit in seconds. Tiny corpora keep every term.
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=(1, 2),
        min_df=2 if documents >= 100 else 1,
        max_features=200_000,
    )
    # A scalar column index hands the vectorizer a 1-d column of texts.
    features = ColumnTransformer([("tfidf", vectorizer, 0)])
    return Pipeline(
        [("features", features), ("clf", LogisticRegression(max_iter=1000, random_state=seed))]
    )


def available_trainers() -> list[str]:
    """The trainers this server can run: ``minilm`` needs its optional packages."""
    return [t for t in TRAINERS if t != "minilm" or not missing_requirements()]


def _minilm(data: Split, seed: int, progress: Progress) -> SentenceEmbeddingClassifier:
    missing = missing_requirements()
    if missing:
        raise TrainerUnavailable(
            "the minilm trainer needs packages this server lacks: " + ", ".join(missing)
        )
    from modelyard.training.embedding import SentenceEmbeddingClassifier

    model = SentenceEmbeddingClassifier(random_state=seed)
    progress(0.0, "embedding")
    # Embedding is nearly all of the time; the logistic regression on 384 numbers is quick.
    model.fit(
        text_matrix(data.train_texts),
        np.asarray(data.train_labels, dtype=object),
        progress=lambda fraction: progress(0.95 * fraction, "embedding"),
    )
    return model


def encoder_reference(trainer: str) -> dict[str, Any] | None:
    """What a trainer's model refers to outside its own file (minilm: the packaged encoder)."""
    if trainer != "minilm":
        return None
    return {
        "encoder": ENCODER_PACKAGE,
        "encoder_version": encoder_version(),
        "embedding_dimension": ENCODER_DIMENSION,
        "model": "sentence-transformers/all-MiniLM-L6-v2",
    }


def train(trainer: str, data: Split, *, seed: int, progress: Progress) -> bytes:
    """Fit ``trainer`` on the training part; return the model as a skops file."""
    model: Any
    if trainer == "tfidf-logreg":
        model = _tfidf_logreg(seed, len(data.train_texts))
        progress(0.0, "fitting")
        model.fit(text_matrix(data.train_texts), np.asarray(data.train_labels, dtype=object))
    elif trainer == "minilm":
        model = _minilm(data, seed, progress)
    else:
        raise TrainerUnavailable(f"unknown trainer {trainer!r}; use one of {TRAINERS}")
    progress(1.0, "fitted")
    # Imported here, not at the top: skops lists scikit-learn's estimators on import, which
    # imports torch when it is installed (seconds), and a server must not pay that to start.
    import skops.io as sio

    data_bytes: bytes = sio.dumps(model)
    return data_bytes


@dataclass
class TextModel:
    """A loaded classifier: texts in, (label, class id, score) out.

    ``embed`` is set when the model has its own text embeddings (``minilm``): texts in, one
    row of numbers per text out (``numpy`` float32). Otherwise it is None.
    """

    runtime: ModelRuntime
    label2id: dict[str, int]
    embed: Callable[[Sequence[str]], np.ndarray] | None = None

    def __post_init__(self) -> None:
        embed = getattr(self.runtime, "embed", None)
        if callable(embed) and self.embed is None:
            self.embed = lambda texts: np.asarray(embed(text_matrix(texts)))

    def predict(self, texts: Sequence[str]) -> list[tuple[str, int, float]]:
        result = self.runtime.predict(text_matrix(texts))
        assert result.probabilities is not None
        answers = []
        for label, row in zip(result.predictions, result.probabilities, strict=True):
            answers.append((str(label), self.label2id[str(label)], float(max(row))))
        return answers

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        result = self.runtime.predict(text_matrix(texts))
        return np.asarray(result.probabilities, dtype=np.float64)


def load_text_model(data: bytes) -> TextModel:
    """Load a skops file written by ``train`` (safely: no types beyond skops' own and ours)."""
    runtime = load_model(data, "skops", trusted_types=list(TRUSTED_TYPES))
    if runtime.kind != "classifier" or runtime.classes is None:
        raise ValueError("the file is not a classifier")
    classes = [str(c) for c in runtime.classes]
    return TextModel(runtime, {label: index for index, label in enumerate(classes)})


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def evaluate(model: TextModel, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Validation metrics: accuracy, macro/micro P/R/F1, per-class report, ROC AUC, matrix."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    classes = list(model.label2id)
    probabilities = model.probabilities(texts)
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    metrics: dict[str, float | None] = {"accuracy": float(accuracy_score(labels, predicted))}
    for average in ("macro", "micro"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            labels, predicted, average=average, zero_division=0
        )
        metrics[f"precision_{average}"] = float(precision)
        metrics[f"recall_{average}"] = float(recall)
        metrics[f"f1_{average}"] = float(f1)
    try:
        if len(classes) == 2:
            truth = [1 if label == classes[1] else 0 for label in labels]
            auc = roc_auc_score(truth, probabilities[:, 1])
        else:
            auc = roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes)
        metrics["roc_auc"] = _finite(float(auc))
    except ValueError:
        metrics["roc_auc"] = None  # a class missing from the validation part
    report = classification_report(
        labels, predicted, labels=classes, output_dict=True, zero_division=0
    )
    matrix = confusion_matrix(labels, predicted, labels=classes)
    return {
        "metrics": metrics,
        "per_class": {c: report[c] for c in classes},
        "confusion_matrix": {"labels": classes, "matrix": matrix.tolist()},
        "actual": list(labels),
        "predicted": predicted,
    }
