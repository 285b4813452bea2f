"""The app's import leaves the heavy libraries alone (issue 21, wall 3).

``modelyard serve`` must be ready in about a second of CPU and stay small when idle, so the
libraries that cost seconds and hundreds of megabytes are imported by the code that first needs
them. A fresh interpreter imports the app and starts it; none of them may be loaded then.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modelyard.training import embedding, trainers

HEAVY = (
    "sklearn",
    "scipy",
    "mlflow",
    "umap",
    "pynndescent",
    "numba",
    "torch",
    "pandas",
    "onnxruntime",
    "onnx",
    "matplotlib",
    "skops",
    "openTSNE",
    "trimap",
    "sentence_transformers",
    "celery",
    "boto3",
)

# The app built with the defaults and started (its lifespan: jobs, serving, the warm-ups),
# then asked whether it is alive.
PROBE = """
import json, sys
from fastapi.testclient import TestClient
from modelyard.app import create_app
from modelyard.config import Settings
from modelyard.db import Database
from modelyard.migrate import upgrade
settings = Settings(data_dir=sys.argv[1])
# A cache the UMAP warm-up already filled: the start-up looks and starts no compile (a child
# process would not load anything into this one anyway, but would take minutes of CPU).
from modelyard.visualization import warm_up
from modelyard.visualization.runtime import numba_cache_dir
numba_cache_dir(settings).mkdir(parents=True)
warm_up._marker(numba_cache_dir(settings)).touch()
upgrade(Database.from_settings(settings))  # as `modelyard serve` does first
with TestClient(create_app(settings)) as client:
    assert client.get("/api/v1/health/live").status_code == 200
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_starting_the_app_imports_no_heavy_library(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[1] / "src"
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    modules = set(json.loads(loaded.stdout.splitlines()[-1]))
    assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))


def test_the_trusted_model_type_is_the_embedding_class() -> None:
    # trainers spells the name out so that it need not import embedding (scikit-learn).
    assert trainers.TRUSTED_TYPES == (embedding.EMBEDDER_TYPE,)
    cls = embedding.SentenceEmbeddingClassifier
    assert f"{cls.__module__}.{cls.__qualname__}" == embedding.EMBEDDER_TYPE
