"""Files the registry must refuse, and refuse before anything in them can run."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.registry.factories import (
    HEART_SCHEMA,
    evil_pickle,
    good_pickle,
    onnx_matmul,
    register,
    register_ok,
    skops_classifier,
    skops_forest,
    skops_with_os_system,
)


@pytest.mark.parametrize("fmt", [None, "auto", "pickle", "joblib", "skops", "onnx"])
def test_a_users_pickle_is_refused_unloaded(
    client: TestClient, alice: Account, tmp_path: Path, fmt: str | None
) -> None:
    target = tmp_path / "pwned.txt"
    response = register(client, alice, "evil", evil_pickle(target), fmt=fmt)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "pickle_not_allowed"
    assert not target.exists()


def test_an_admins_pickle_is_refused_unless_the_setting_allows_it(
    client: TestClient, admin: Account, tmp_path: Path
) -> None:
    target = tmp_path / "pwned.txt"
    response = register(client, admin, "evil", evil_pickle(target), fmt="pickle")
    assert response.status_code == 403
    assert not target.exists()


def test_skops_with_an_unlisted_type_is_refused(client: TestClient, alice: Account) -> None:
    response = register(client, alice, "m", skops_with_os_system())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "untrusted_model_types"
    assert error["details"] == {"types": ["posix.system"]}


def test_skops_types_on_the_allow_list_load(client: TestClient, alice: Account) -> None:
    # A forest holds sklearn.tree._tree.Tree, which skops does not trust by default.
    assert register_ok(client, alice, "forest", skops_forest())["kind"] == "classifier"


def test_onnx_with_external_data_is_refused(client: TestClient, alice: Account) -> None:
    for location in ("weights.bin", "../../../../etc/hosts"):
        response = register(client, alice, "m", onnx_matmul(external_location=location))
        assert response.status_code == 422
        assert "external" in response.json()["error"]["message"]
    assert register_ok(client, alice, "m", onnx_matmul())["kind"] == "regressor"


@pytest.mark.parametrize("fmt", [None, "skops", "onnx"])
def test_a_file_that_is_not_a_model_is_refused(
    client: TestClient, alice: Account, fmt: str | None
) -> None:
    response = register(client, alice, "m", b"hello, I am a text file\n" * 10, fmt=fmt)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_model_file"


def test_an_empty_upload_is_refused(client: TestClient, alice: Account) -> None:
    response = register(client, alice, "m", b"")
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "the uploaded file is empty"


def test_an_unknown_format_is_refused(client: TestClient, alice: Account) -> None:
    response = register(client, alice, "m", skops_classifier(), fmt="tensorflow")
    assert response.status_code == 422


def test_a_schema_that_does_not_match_the_model_is_refused(
    client: TestClient, alice: Account
) -> None:
    # The document's 8-column schema against a model of 4 features.
    response = register(client, alice, "m", skops_classifier(4), schema=HEART_SCHEMA)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input_schema"
    assert "8 columns" in error["message"]
    # ONNX: the width comes from the graph's input.
    response = register(client, alice, "m", onnx_matmul(), schema=[{"name": "a"}])
    assert response.status_code == 422


@pytest.mark.parametrize(
    "schema",
    [
        {"input_schema": {"columns": []}},
        [{"name": "a", "type": "tensor"}],
        [{"name": "a"}, {"name": "a"}],
        [{"name": "a", "type": "int", "default": "x"}],
        "not a schema",
    ],
)
def test_a_malformed_schema_is_refused(client: TestClient, alice: Account, schema: object) -> None:
    response = register(client, alice, "m", skops_classifier(1), schema=schema)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input_schema"


def test_no_row_is_left_behind_by_a_refused_upload(client: TestClient, alice: Account) -> None:
    register(client, alice, "m", b"")
    assert client.get("/api/v1/models", headers=alice.headers).json()["total"] == 0


class TestAdminPickle:
    @pytest.fixture
    def serving_overrides(self) -> dict[str, object]:
        return {"registry": {"allow_admin_pickle": True}}

    def test_an_admin_may_upload_a_pickle_when_allowed(
        self, client: TestClient, admin: Account, alice: Account, tmp_path: Path
    ) -> None:
        assert register_ok(client, admin, "p", good_pickle(), fmt="pickle")["format"] == "pickle"
        served = client.post(
            "/api/v1/models/p/predict", json={"X": [[0, 0, 0, 0]]}, headers=admin.headers
        )
        assert served.status_code == 200
        assert served.json()["classes"] == [0, 1]
        # Still never from an ordinary user.
        target = tmp_path / "pwned.txt"
        assert register(client, alice, "p", evil_pickle(target)).status_code == 403
        assert not target.exists()


class TestEmptyAllowList:
    @pytest.fixture
    def serving_overrides(self) -> dict[str, object]:
        return {"registry": {"skops_trusted_types": []}}

    def test_types_off_the_list_are_refused(self, client: TestClient, alice: Account) -> None:
        response = register(client, alice, "forest", skops_forest())
        assert response.status_code == 422
        assert response.json()["error"]["details"] == {"types": ["sklearn.tree._tree.Tree"]}


def test_a_stored_pickle_is_not_loaded_once_the_setting_is_off() -> None:
    from modelyard.config import RegistrySettings
    from modelyard.registry.exceptions import PickleNotAllowed
    from modelyard.registry.service import load_runtime

    with pytest.raises(PickleNotAllowed):
        load_runtime(good_pickle(), "pickle", RegistrySettings(allow_admin_pickle=False))
    assert load_runtime(good_pickle(), "pickle", RegistrySettings(allow_admin_pickle=True))
