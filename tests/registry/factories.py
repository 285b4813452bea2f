"""Tiny models made on the spot (no downloads): skops, ONNX, pickles good and evil."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import skops.io as sio
from fastapi.testclient import TestClient
from httpx import Response
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from tests.helpers import Account

HEART_FEATURES = [
    "age",
    "creatinine_phosphokinase",
    "ejection_fraction",
    "platelets",
    "serum_creatinine",
    "serum_sodium",
    "sex",
    "high_blood_pressure",
]
# The Machine learning API's input_schema.json, as its document shows it.
HEART_SCHEMA = {
    "input_schema": {
        "columns": [
            {
                "name": name,
                "type": "boolean" if name in ("sex", "high_blood_pressure") else "numeric",
            }
            for name in HEART_FEATURES
        ]
    }
}


def training_data(n_features: int, rows: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, n_features))
    labels = (features[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    return features, labels


def classifier(n_features: int = 4) -> LogisticRegression:
    features, labels = training_data(n_features)
    return LogisticRegression().fit(features, labels)


def skops_classifier(n_features: int = 4) -> bytes:
    data: bytes = sio.dumps(classifier(n_features))
    return data


def skops_forest() -> bytes:
    features, labels = training_data(4)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    data: bytes = sio.dumps(forest)
    return data


def skops_out_of_range_tree() -> bytes:
    """A DecisionTreeClassifier whose root's children point far outside its node array: only
    skops' trusted types, yet its first prediction makes scikit-learn's Cython read out of
    bounds (a segmentation fault of the process that predicts)."""
    from sklearn.tree import DecisionTreeClassifier

    x, y = training_data(4)
    tree = DecisionTreeClassifier(random_state=0).fit(x, y)
    state = tree.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = nodes["right_child"][0] = 10**9
    state["nodes"] = nodes
    tree.tree_.__setstate__(state)
    return sio.dumps(tree)


def skops_with_os_system() -> bytes:
    # A FunctionTransformer is a trusted estimator; the function it would call is not.
    data: bytes = sio.dumps(FunctionTransformer(func=__import__("os").system))
    return data


def heart_classifier() -> bytes:
    features, labels = training_data(len(HEART_FEATURES), rows=120, seed=3)
    features[:, 3] = features[:, 3] * 100_000 + 250_000
    data: bytes = sio.dumps(LogisticRegression(max_iter=1000).fit(features, labels))
    return data


def onnx_classifier(n_features: int = 4, *, zipmap: bool = False) -> bytes:
    features, labels = training_data(n_features)
    features = features.astype(np.float32)
    model = LogisticRegression().fit(features, labels)
    proto = to_onnx(model, features[:1], options={id(model): {"zipmap": zipmap}})
    data: bytes = proto.SerializeToString()
    return data


def onnx_matmul(*, external_location: str | None = None) -> bytes:
    """Y = X @ W; with ``external_location`` the weights are said to live in another file."""
    weights = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "matmul",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external_location is not None:
        tensor = model.graph.initializer[0]
        onnx.external_data_helper.set_external_data(tensor, location=external_location)
        tensor.data_location = TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
    data: bytes = model.SerializeToString()
    return data


class _WritesFile:
    """Unpickling this runs code: it writes ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


def evil_pickle(path: Path) -> bytes:
    return pickle.dumps(_WritesFile(path))


def good_pickle() -> bytes:
    return pickle.dumps(classifier(4))


def register(
    client: TestClient,
    account: Account,
    name: str,
    data: bytes,
    *,
    fmt: str | None = None,
    schema: Any = None,
    sample: bytes | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
) -> Response:
    import json

    form: dict[str, Any] = {"name": name}
    if fmt is not None:
        form["format"] = fmt
    if tags is not None:
        form["tags"] = tags
    if description is not None:
        form["description"] = description
    files: dict[str, Any] = {"file": ("model.bin", data, "application/octet-stream")}
    if schema is not None:
        files["input_schema"] = ("input_schema.json", json.dumps(schema), "application/json")
    if sample is not None:
        files["sample"] = ("sample.csv", sample, "text/csv")
    return client.post("/api/v1/models", data=form, files=files, headers=account.headers)


def register_ok(
    client: TestClient, account: Account, name: str, data: bytes, **kw: Any
) -> dict[str, Any]:
    response = register(client, account, name, data, **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
