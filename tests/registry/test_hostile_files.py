"""Hostile model files: each is built here, uploaded through the API and refused with a 422
that names what was refused, before it can read a server file or crash native code; nothing
of it is stored. Valid models of every checked kind still upload and predict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from onnx import (
    AttributeProto,
    GraphProto,
    ModelProto,
    NodeProto,
    TensorProto,
    helper,
    numpy_helper,
)
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC, SVR, NuSVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelyard.registry.loaders import summarise
from tests.helpers import Account
from tests.registry.factories import onnx_matmul, register, register_ok, training_data

SECRET = b"modelyard-test-signing-key-0123456789"


def _stored_models(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.suffix in (".onnx", ".skops"))


def _refused(
    client: TestClient, account: Account, data_dir: Path, data: bytes, code: str
) -> dict[str, Any]:
    """Upload ``data`` as a new version of ``keep`` and as a new model: both refused with
    ``code``, and the models and files stay as they were."""
    before = client.get("/api/v1/models", headers=account.headers).json()
    files = _stored_models(data_dir)
    for name in ("keep", "new"):
        response = register(client, account, name, data)
        assert response.status_code == 422, response.text
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == code, error
    assert client.get("/api/v1/models", headers=account.headers).json() == before
    assert _stored_models(data_dir) == files
    return error


@pytest.fixture
def kept(client: TestClient, alice: Account) -> dict[str, Any]:
    """A model alice had before the hostile uploads."""
    return register_ok(client, alice, "keep", onnx_matmul())


# --- ONNX: external data anywhere ---------------------------------------------------------


def _external(name: str, location: str, dims: list[int], dtype: int = TensorProto.UINT8) -> Any:
    tensor = TensorProto(name=name, data_type=dtype, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _model(
    nodes: list[NodeProto],
    *,
    output: str = "Y",
    output_type: int = TensorProto.FLOAT,
    output_shape: list[Any] | None = None,
    initializers: list[TensorProto] | None = None,
    sparse: list[Any] | None = None,
    functions: list[Any] | None = None,
    domains: dict[str, int] | None = None,
) -> ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info(output, output_type, output_shape or [None, 3])],
        initializers or [],
        sparse_initializer=sparse or [],
    )
    opsets = [helper.make_opsetid("", 17)]
    opsets += [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets, functions=functions or [])
    model.ir_version = 8
    return model


def _sparse_secret_model(location: str) -> bytes:
    """The finding: Y = Identity(w), a sparse initializer whose values live in ``location``."""
    n = len(SECRET)
    values = _external("w", location, [n])
    indices = numpy_helper.from_array(np.arange(n, dtype=np.int64), name="w_indices")
    model = _model(
        [helper.make_node("Identity", ["w"], ["Y"])],
        output_type=TensorProto.UINT8,
        output_shape=[n],
        sparse=[helper.make_sparse_tensor(values, indices, [n])],
    )
    return model.SerializeToString()


def test_a_sparse_initializer_cannot_read_a_server_file(
    client: TestClient,
    alice: Account,
    data_dir: Path,
    kept: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server's working directory holds the secret at the path the file names, as
    # ``data/secret_key`` did.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)
    data = _sparse_secret_model("data/secret_key")

    error = _refused(client, alice, data_dir, data, "external_model_data")
    assert "sparse initializer 'w' stores its data outside the file" in error["message"]
    # Had it been stored, a predict would have answered the file's bytes.
    answer = client.post(
        "/api/v1/models/new/predict", json={"X": [[0, 0, 0]]}, headers=alice.headers
    )
    assert answer.status_code == 404
    assert SECRET.decode() not in answer.text
    assert register_ok(client, alice, "keep", onnx_matmul())["version"] == 2


def _graph_with(node: NodeProto) -> ModelProto:
    """Y = Identity(X) beside ``node`` (its output unused)."""
    return _model([helper.make_node("Identity", ["X"], ["Y"]), node])


def _tensor_attribute(name: str, kind: int, value: Any) -> AttributeProto:
    attribute = AttributeProto(name=name, type=kind)
    if kind == AttributeProto.TENSOR:
        attribute.t.CopyFrom(value)
    elif kind == AttributeProto.TENSORS:
        attribute.tensors.append(value)
    elif kind == AttributeProto.SPARSE_TENSOR:
        attribute.sparse_tensor.CopyFrom(value)
    elif kind == AttributeProto.SPARSE_TENSORS:
        attribute.sparse_tensors.append(value)
    elif kind == AttributeProto.GRAPH:
        attribute.g.CopyFrom(value)
    else:
        attribute.graphs.append(value)
    return attribute


def _node_with(attribute: AttributeProto, op: str = "Constant") -> NodeProto:
    node = helper.make_node(op, [], ["unused"], name="n")
    node.attribute.append(attribute)
    return node


def _sparse(location: str, *, indices_outside: bool = False) -> Any:
    values = numpy_helper.from_array(np.ones(2, dtype=np.float32), name="s")
    indices = numpy_helper.from_array(np.arange(2, dtype=np.int64), name="s_indices")
    if indices_outside:
        indices = _external("s_indices", location, [2], TensorProto.INT64)
    else:
        values = _external("s", location, [2], TensorProto.FLOAT)
    return helper.make_sparse_tensor(values, indices, [2])


def _branch(inner: NodeProto) -> GraphProto:
    return helper.make_graph(
        [inner, helper.make_node("Identity", ["X"], ["b"])],
        "branch",
        [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 3])],
    )


def _if(inner: NodeProto) -> NodeProto:
    """An If whose then-branch holds ``inner``."""
    plain = _branch(helper.make_node("Identity", ["X"], ["plain"]))
    return helper.make_node(
        "If", ["c"], ["unused"], name="if", then_branch=_branch(inner), else_branch=plain
    )


def _initializer_with_entries_only() -> ModelProto:
    model = ModelProto()
    model.ParseFromString(onnx_matmul())
    tensor = model.graph.initializer[0]
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "data/secret_key"
    assert tensor.data_location == TensorProto.DEFAULT
    return model


def _function_model(node: NodeProto, *, attribute_default: AttributeProto | None = None) -> Any:
    function = helper.make_function(
        "my.funcs",
        "Leaky",
        ["A"],
        ["B"],
        [node, helper.make_node("Identity", ["A"], ["B"])],
        [helper.make_opsetid("", 17)],
    )
    if attribute_default is not None:
        function.attribute_proto.append(attribute_default)
    return _model(
        [helper.make_node("Leaky", ["X"], ["Y"], domain="my.funcs")],
        functions=[function],
        domains={"my.funcs": 1},
    )


SECRET_PATH = "data/secret_key"
EXTERNAL_CASES: dict[str, tuple[Callable[[], ModelProto], str]] = {
    "initializer": (
        lambda: ModelProto.FromString(onnx_matmul(external_location=SECRET_PATH)),
        "initializer 'W'",
    ),
    "initializer with external_data entries only": (
        _initializer_with_entries_only,
        "initializer 'W'",
    ),
    "sparse initializer indices": (
        lambda: _model(
            [helper.make_node("Identity", ["X"], ["Y"])],
            sparse=[_sparse(SECRET_PATH, indices_outside=True)],
        ),
        "indices of sparse initializer 's'",
    ),
    "TENSOR attribute": (
        lambda: _graph_with(
            _node_with(
                _tensor_attribute("value", AttributeProto.TENSOR, _external("t", SECRET_PATH, [4]))
            )
        ),
        "attribute 'value'",
    ),
    "TENSORS attribute": (
        lambda: _graph_with(
            _node_with(
                _tensor_attribute("ts", AttributeProto.TENSORS, _external("t", SECRET_PATH, [4])),
                op="Identity",
            )
        ),
        "attribute 'ts'",
    ),
    "SPARSE_TENSOR attribute": (
        lambda: _graph_with(
            _node_with(
                _tensor_attribute(
                    "sparse_value", AttributeProto.SPARSE_TENSOR, _sparse(SECRET_PATH)
                )
            )
        ),
        "attribute 'sparse_value'",
    ),
    "SPARSE_TENSORS attribute": (
        lambda: _graph_with(
            _node_with(
                _tensor_attribute(
                    "sts", AttributeProto.SPARSE_TENSORS, _sparse(SECRET_PATH, indices_outside=True)
                ),
                op="Identity",
            )
        ),
        "attribute 'sts'",
    ),
    "tensor typed as another kind": (
        # The field is filled whatever ``type`` says; a reader may look at it anyway.
        lambda: _graph_with(_node_with(_mistyped_attribute())),
        "attribute 'value'",
    ),
    "If branch (GRAPH)": (
        lambda: _graph_with(
            _if(
                _node_with(
                    _tensor_attribute(
                        "value", AttributeProto.TENSOR, _external("t", SECRET_PATH, [4])
                    )
                )
            )
        ),
        "subgraph 'then_branch'",
    ),
    "If inside an If branch": (
        lambda: _graph_with(
            _if(
                _if(
                    _node_with(
                        _tensor_attribute(
                            "value", AttributeProto.TENSOR, _external("deep", SECRET_PATH, [4])
                        )
                    )
                )
            )
        ),
        "tensor of node 'n'",
    ),
    "GRAPHS attribute": (
        lambda: _graph_with(
            _node_with(
                _tensor_attribute(
                    "bodies",
                    AttributeProto.GRAPHS,
                    helper.make_graph(
                        [],
                        "body",
                        [],
                        [],
                        [_external("inside", SECRET_PATH, [4])],
                    ),
                ),
                op="Identity",
            )
        ),
        "initializer 'inside'",
    ),
    "model-local function's node": (
        lambda: _function_model(
            _node_with(
                _tensor_attribute("value", AttributeProto.TENSOR, _external("f", SECRET_PATH, [4]))
            )
        ),
        "function 'Leaky'",
    ),
    "model-local function's attribute default": (
        lambda: _function_model(
            helper.make_node("Identity", ["A"], ["unused"]),
            attribute_default=_tensor_attribute(
                "alpha", AttributeProto.TENSOR, _external("d", SECRET_PATH, [4])
            ),
        ),
        "function 'Leaky' attribute 'alpha'",
    ),
}


def _mistyped_attribute() -> AttributeProto:
    attribute = AttributeProto(name="value", type=AttributeProto.FLOAT, f=1.0)
    attribute.t.CopyFrom(_external("t", SECRET_PATH, [4]))
    return attribute


@pytest.mark.parametrize("case", list(EXTERNAL_CASES))
def test_external_data_anywhere_in_the_model_is_refused(
    client: TestClient,
    alice: Account,
    data_dir: Path,
    kept: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_bytes(SECRET * 4)
    monkeypatch.chdir(tmp_path)
    build, named = EXTERNAL_CASES[case]
    error = _refused(client, alice, data_dir, build().SerializeToString(), "external_model_data")
    assert named in error["message"]
    assert "outside the file" in error["message"]


def test_an_operator_domain_onnxruntime_cannot_run_is_refused(
    client: TestClient, alice: Account, data_dir: Path, kept: dict[str, Any]
) -> None:
    model = _model(
        [helper.make_node("Steal", ["X"], ["Y"], name="custom", domain="evil.ops")],
        domains={"evil.ops": 1},
    )
    error = _refused(
        client, alice, data_dir, model.SerializeToString(), "unsupported_operator_domain"
    )
    assert "'Steal' of domain 'evil.ops'" in error["message"]


def test_a_model_local_function_in_its_own_domain_uploads_and_predicts(
    client: TestClient, alice: Account
) -> None:
    function = helper.make_function(
        "my.funcs",
        "Double",
        ["A"],
        ["B"],
        [helper.make_node("Add", ["A", "A"], ["B"])],
        [helper.make_opsetid("", 17)],
    )
    model = _model(
        [helper.make_node("Double", ["X"], ["Y"], domain="my.funcs")],
        functions=[function],
        domains={"my.funcs": 1},
    )
    register_ok(client, alice, "double", model.SerializeToString())
    answer = client.post(
        "/api/v1/models/double/predict", json={"X": [[1, 2, 3]]}, headers=alice.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [[2.0, 4.0, 6.0]]


def test_a_model_is_always_read_as_the_onnx_that_was_checked(
    client: TestClient, alice: Account
) -> None:
    # "ORTM" at offset 4 (here from the producer's name) makes onnxruntime read bytes as its
    # own flatbuffer format, which the checks above never see; the server insists on ONNX.
    model = ModelProto.FromString(onnx_matmul())
    model.producer_name = "ORTM polyglot"
    data = model.SerializeToString()
    assert data[4:8] == b"ORTM"
    register_ok(client, alice, "m", data)
    answer = client.post("/api/v1/models/m/predict", json={"X": [[1, 2, 3]]}, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [[6.0]]


# --- errors from model libraries are summarised ------------------------------------------------


def test_onnxruntimes_load_error_reaches_the_caller_without_its_source_paths(
    client: TestClient, alice: Account
) -> None:
    # The graph's output is nobody's: onnxruntime refuses it when it loads, naming the source
    # file and C++ function that noticed.
    model = _model([helper.make_node("Identity", ["X"], ["Z"])])
    response = register(client, alice, "m", model.SerializeToString())
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("onnxruntime cannot load the model: This is an invalid model.")
    assert "Graph output (Y) does not exist in the graph" in message
    assert "onnxruntime_src" not in message and ".cc:" not in message and "::" not in message
    assert len(message) <= 400


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        (
            "[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/graph/graph.cc:1377"
            " onnxruntime::Graph::Graph(const onnxruntime::Model&, onnx::GraphProto*, bool)"
            " status.IsOK() was false. [ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:461"
            ' ValidateExternalDataPathFromDir External data path does not exist: "/srv/data/key"',
            'ValidateExternalDataPathFromDir External data path does not exist: "<path>"',
        ),
        (
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: X\n"
            " index: 1 Got: 4 Expected: 3\n",
            "Got invalid dimensions for input: X index: 1 Got: 4 Expected: 3",
        ),
        (
            "[Errno 2] No such file or directory: '../../etc/passwd'",
            "[Errno 2] No such file or directory: '<path>'",
        ),
        (
            "X has 3 features, but DecisionTreeClassifier is expecting 4 features as input.",
            "X has 3 features, but DecisionTreeClassifier is expecting 4 features as input.",
        ),
        ("x" * 1000, "x" * 297 + "..."),
        (
            "[ONNXRuntimeError] : 1 : FAIL : inference_session.cc:2226 operator() ORT model"
            " verification failed.",
            "ORT model verification failed.",
        ),
    ],
)
def test_a_library_error_is_summarised(text: str, summary: str) -> None:
    assert summarise(ValueError(text)) == summary


def _reshape_model() -> bytes:
    # Accepted at load; a row of 3 numbers cannot be reshaped to pairs, so every predict fails
    # inside onnxruntime.
    shape = numpy_helper.from_array(np.array([-1, 2], dtype=np.int64), name="shape")
    model = _model(
        [helper.make_node("Reshape", ["X", "shape"], ["Y"])],
        output_shape=[None, 2],
        initializers=[shape],
    )
    return model.SerializeToString()


@pytest.mark.parametrize("mode", ["direct", "batching", "async"])
def test_onnxruntimes_predict_error_reaches_the_caller_without_its_source_paths(
    client: TestClient, alice: Account, mode: str
) -> None:
    register_ok(client, alice, "m", _reshape_model())
    path = "/api/v1/models/m/predict"
    if mode == "batching":
        put = client.put(
            "/api/v1/models/m/versions/1/serving", json={"mode": "batching"}, headers=alice.headers
        )
        assert put.status_code == 200, put.text
    answer = client.post(
        path + ("?async=true" if mode == "async" else ""),
        json={"X": [[1, 2, 3]]},
        headers=alice.headers,
    )
    if mode == "async":
        assert answer.status_code == 202, answer.text
        predict_id = answer.json()["predict_id"]
        answer = client.get(f"/api/v1/predictions/{predict_id}", headers=alice.headers)
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error["code"] == "predict_error"
    assert "onnxruntime_src" not in error["message"] and ".h:" not in error["message"]
    assert "::" not in error["message"]


# --- skops: structures that drive scikit-learn's compiled code ------------------------------


def _fit(estimator: Any, *, regression: bool = False, classes: int = 2) -> Any:
    features, labels = training_data(4, rows=80)
    if regression:
        return estimator.fit(features, features[:, 0])
    if classes > 2:
        labels = np.digitize(features[:, 0], [-0.5, 0.5])
    return estimator.fit(features, labels)


def _edit_tree(tree: Any, **fields: Callable[[np.ndarray], None]) -> None:
    """Change the tree's node array as a crafted file would (sklearn's setstate takes it)."""
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    for name, change in fields.items():
        change(nodes[name])
    state["nodes"] = nodes
    tree.__setstate__(state)


def _set(index: int, value: int) -> Callable[[np.ndarray], None]:
    def change(array: np.ndarray) -> None:
        array[index] = value

    return change


def _first_split(tree: Any) -> int:
    return int(np.flatnonzero(tree.children_left != -1)[0])


def _tree_out_of_range() -> bytes:
    # The finding: the root's left child far past the tree's nodes.
    model = _fit(DecisionTreeClassifier(random_state=0))
    _edit_tree(model.tree_, left_child=_set(0, 1_000_000))
    return bytes(sio.dumps(model))


def _tree_cycle() -> bytes:
    model = _fit(DecisionTreeRegressor(max_depth=3, random_state=0), regression=True)
    child = int(model.tree_.children_left[0])
    _edit_tree(model.tree_, left_child=_set(child, 0), right_child=_set(child, 0))
    return bytes(sio.dumps(model))


def _tree_one_child() -> bytes:
    model = _fit(DecisionTreeClassifier(random_state=0))
    _edit_tree(model.tree_, right_child=_set(0, -1))
    return bytes(sio.dumps(model))


def _tree_negative_child() -> bytes:
    model = _fit(DecisionTreeClassifier(random_state=0))
    _edit_tree(model.tree_, right_child=_set(0, -7))
    return bytes(sio.dumps(model))


def _forest_feature_out_of_range() -> bytes:
    model = _fit(RandomForestClassifier(n_estimators=3, random_state=0))
    tree = model.estimators_[1].tree_
    _edit_tree(tree, feature=_set(_first_split(tree), 50))
    return bytes(sio.dumps(model))


def _extra_trees_child_out_of_range() -> bytes:
    model = _fit(ExtraTreesClassifier(n_estimators=3, random_state=0))
    tree = model.estimators_[2].tree_
    _edit_tree(tree, right_child=_set(_first_split(tree), int(tree.node_count)))
    return bytes(sio.dumps(model))


def _forest_narrower_than_its_trees() -> bytes:
    # The forest checks the input against its own width and hands it to trees that read more.
    model = _fit(RandomForestRegressor(n_estimators=2, random_state=0), regression=True)
    model.n_features_in_ = 1
    return bytes(sio.dumps(model))


def _boosting_child_out_of_range() -> bytes:
    model = _fit(GradientBoostingRegressor(n_estimators=3, random_state=0), regression=True)
    tree = model.estimators_[2, 0].tree_
    _edit_tree(tree, left_child=_set(_first_split(tree), 99_999))
    return bytes(sio.dumps(model))


def _boosting_wider_than_its_output() -> bytes:
    # Stage k's tree is added into column k of an output with one column per class.
    model = _fit(GradientBoostingClassifier(n_estimators=2, random_state=0))
    model.estimators_ = np.concatenate([model.estimators_] * 4, axis=1)
    return bytes(sio.dumps(model))


def _hgb(edit: Callable[[np.ndarray], None], *, regression: bool = False) -> bytes:
    estimator = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    model = _fit(estimator(max_iter=3, random_state=0), regression=regression)
    nodes = model._predictors[1][0].nodes
    edit(nodes)
    return bytes(sio.dumps(model))


def _hgb_root(field: str, value: int) -> Callable[[np.ndarray], None]:
    def edit(nodes: np.ndarray) -> None:
        nodes[field][0] = value

    return edit


def _hgb_categorical(nodes: np.ndarray) -> None:
    # A categorical split in a model without categorical features: its bitset row is not there.
    nodes["is_categorical"][0] = 1


def _svc(edit: Callable[[Any], None]) -> bytes:
    # libsvm reads every array by the class count in ``_n_support`` and the input's width.
    model = _fit(SVC(), classes=3)
    edit(model)
    return bytes(sio.dumps(model))


def _svc_fewer_intercepts(model: Any) -> None:
    model._intercept_ = model._intercept_[:1].copy()


def _svc_fewer_coefficients(model: Any) -> None:
    model._dual_coef_ = model._dual_coef_[:, :5].copy()


def _svc_more_vectors_counted(model: Any) -> None:
    counts = model._n_support.copy()
    counts[0] += 1_000
    model._n_support = counts


def _svc_narrow_vectors(model: Any) -> None:
    model.support_vectors_ = np.ascontiguousarray(model.support_vectors_[:, :1])


def _kmeans_narrow_centres() -> bytes:
    model = KMeans(3, n_init=1, random_state=0).fit(training_data(4)[0])
    model.cluster_centers_ = np.ascontiguousarray(model.cluster_centers_[:, :1])
    return bytes(sio.dumps(model))


def _neighbours(edit: Callable[[Any], None]) -> bytes:
    model = _fit(KNeighborsClassifier(algorithm="brute"))
    edit(model)
    return bytes(sio.dumps(model))


def _narrow_rows(model: Any) -> None:
    model._fit_X = np.ascontiguousarray(model._fit_X[:, :1])


def _more_rows_counted(model: Any) -> None:
    model.n_samples_fit_ = 10_000


def _bagging_text_features() -> bytes:
    # Not checkable (text where feature indices belong): refused, not a server error.
    model = _fit(BaggingClassifier(DecisionTreeClassifier(), n_estimators=2, random_state=0))
    model.estimators_features_ = [np.array(["a", "b", "c", "d"])] * 2
    return bytes(sio.dumps(model))


UNSAFE_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "tree child out of range": (_tree_out_of_range, "left child 1000000"),
    "tree cycle": (_tree_cycle, "is not a later node"),
    "tree node with one child": (_tree_one_child, "has one child"),
    "tree negative child": (_tree_negative_child, "right child -7"),
    "forest feature out of range": (_forest_feature_out_of_range, "feature 50 of 4"),
    "forest narrower than its trees": (_forest_narrower_than_its_trees, "ensemble gives it 1"),
    "extra trees child out of range": (_extra_trees_child_out_of_range, "is not a later node"),
    "gradient boosting child out of range": (_boosting_child_out_of_range, "left child 99999"),
    "gradient boosting wider than its output": (_boosting_wider_than_its_output, "trees per stage"),
    "HistGradientBoosting left out of range": (
        lambda: _hgb(_hgb_root("left", 1_000_000)),
        "left child 1000000",
    ),
    "HistGradientBoosting right loops back": (
        lambda: _hgb(_hgb_root("right", 0), regression=True),
        "right child 0",
    ),
    "HistGradientBoosting feature out of range": (
        lambda: _hgb(_hgb_root("feature_idx", 4)),
        "feature 4 of 4",
    ),
    "HistGradientBoosting categorical split": (lambda: _hgb(_hgb_categorical), "bitset"),
    "SVC intercepts": (lambda: _svc(_svc_fewer_intercepts), "intercept_ is shaped (1,)"),
    "SVC coefficients": (lambda: _svc(_svc_fewer_coefficients), "dual_coef_ is shaped (2, 5)"),
    "SVC class counts": (lambda: _svc(_svc_more_vectors_counted), "_n_support adds up to"),
    "bagging with text for feature indices": (_bagging_text_features, "cannot be checked"),
    "KMeans centres narrower than the input": (
        _kmeans_narrow_centres,
        "cluster_centers_ is shaped (3, 1) for 4 features",
    ),
    "neighbours' rows narrower than the input": (
        lambda: _neighbours(_narrow_rows),
        "_fit_X is shaped (80, 1) for 4 features",
    ),
    "neighbours' row count": (
        lambda: _neighbours(_more_rows_counted),
        "n_samples_fit_ is 10000 for 80 stored rows",
    ),
    "SVC support vector width": (
        lambda: _svc(_svc_narrow_vectors),
        "support vectors are shaped",
    ),
}


@pytest.mark.parametrize("case", list(UNSAFE_CASES))
def test_an_estimator_whose_arrays_would_crash_native_code_is_refused(
    client: TestClient, alice: Account, data_dir: Path, kept: dict[str, Any], case: str
) -> None:
    build, problem = UNSAFE_CASES[case]
    error = _refused(client, alice, data_dir, build(), "unsafe_model_structure")
    assert problem in error["message"], error["message"]


def test_the_refusal_names_the_estimator(
    client: TestClient, alice: Account, data_dir: Path, kept: dict[str, Any]
) -> None:
    error = _refused(
        client, alice, data_dir, _forest_feature_out_of_range(), "unsafe_model_structure"
    )
    assert "RandomForestClassifier.estimators_[1].tree_: node" in error["message"]


VALID: dict[str, Callable[[], Any]] = {
    "DecisionTreeClassifier": lambda: _fit(DecisionTreeClassifier(random_state=0)),
    "DecisionTreeRegressor": lambda: _fit(DecisionTreeRegressor(random_state=0), regression=True),
    "RandomForestClassifier": lambda: _fit(RandomForestClassifier(5, random_state=0), classes=3),
    "RandomForestRegressor": lambda: _fit(
        RandomForestRegressor(5, random_state=0), regression=True
    ),
    "ExtraTreesClassifier": lambda: _fit(ExtraTreesClassifier(5, random_state=0)),
    "GradientBoostingClassifier": lambda: _fit(GradientBoostingClassifier(n_estimators=5)),
    "GradientBoostingClassifier 3 classes": lambda: _fit(
        GradientBoostingClassifier(n_estimators=5), classes=3
    ),
    "GradientBoostingRegressor": lambda: _fit(
        GradientBoostingRegressor(n_estimators=5), regression=True
    ),
    "HistGradientBoostingClassifier": lambda: _fit(HistGradientBoostingClassifier(max_iter=5)),
    "HistGradientBoostingRegressor": lambda: _fit(
        HistGradientBoostingRegressor(max_iter=5), regression=True
    ),
    "SVC": lambda: _fit(SVC(), classes=3),
    "NuSVC": lambda: _fit(NuSVC()),
    "SVR": lambda: _fit(SVR(), regression=True),
    "OneClassSVM": lambda: OneClassSVM().fit(training_data(4)[0]),
    "KMeans": lambda: KMeans(3, n_init=1, random_state=0).fit(training_data(4)[0]),
    "KNeighborsClassifier": lambda: _fit(KNeighborsClassifier(algorithm="brute"), classes=3),
    "IsolationForest": lambda: IsolationForest(n_estimators=5, max_features=2, random_state=0).fit(
        training_data(4)[0]
    ),
}


@pytest.mark.parametrize("kind", list(VALID))
def test_a_valid_tree_model_of_each_kind_uploads_and_predicts(
    client: TestClient, alice: Account, kind: str
) -> None:
    model = VALID[kind]()
    register_ok(client, alice, "trees", bytes(sio.dumps(model)))
    rows = training_data(4, rows=5, seed=9)[0]
    answer = client.post(
        "/api/v1/models/trees/predict", json={"X": rows.tolist()}, headers=alice.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == np.asarray(model.predict(rows)).tolist()
