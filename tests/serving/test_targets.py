"""The target cache: a resolved (caller, model, version) is reused, and never outlives a change."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from modelyard.registry.schemas import ServingTarget
from modelyard.serving.service import ServingCore
from modelyard.serving.targets import TargetCache, current_generation
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier

X = {"X": [[0.1, 0.2, 0.3, 0.4]]}


@pytest.fixture
def serving_overrides() -> dict[str, object]:
    return {"serving": {"target_cache_seconds": 0.5}}


def core_of(client: TestClient) -> ServingCore:
    core: ServingCore = client.app.state.serving  # type: ignore[attr-defined]
    return core


def version_served(client: TestClient, account: Account, path: str = "/api/v1/models/m") -> Any:
    response = client.post(f"{path}/predict", json=X, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["version"]


def test_a_second_request_reuses_the_resolved_version(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    targets = core_of(client).targets
    version_served(client, alice)
    hits = targets.hits
    version_served(client, alice)
    assert targets.hits == hits + 1


def test_a_new_version_a_moved_alias_and_a_delete_apply_at_the_next_request(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    assert version_served(client, alice) == 1
    register_ok(client, alice, "m", skops_classifier(4))
    assert version_served(client, alice) == 2  # no alias: the latest
    put = client.put("/api/v1/models/m/aliases/production", json={"version": 1},
                     headers=alice.headers)  # fmt: skip
    assert put.status_code == 200, put.text
    assert version_served(client, alice) == 1
    deleted = client.delete("/api/v1/models/m/versions/1", headers=alice.headers)
    assert deleted.status_code == 204, deleted.text
    assert version_served(client, alice) == 2
    gone = client.post("/api/v1/models/m/versions/1/predict", json=X, headers=alice.headers)
    assert gone.status_code == 404


def test_a_change_made_elsewhere_is_seen_after_the_ttl(client: TestClient, alice: Account) -> None:
    """A write this process never flushed (another replica's) is picked up within the TTL."""
    register_ok(client, alice, "m", skops_classifier(4))
    register_ok(client, alice, "m", skops_classifier(4))
    assert version_served(client, alice) == 2
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.engine.begin() as conn:  # raw SQL: no ORM flush, no event here
        conn.execute(text("DELETE FROM model_versions WHERE version = 2"))
    time.sleep(0.6)
    assert version_served(client, alice) == 1


def _target(version: int) -> ServingTarget:
    return ServingTarget(
        model_id=1, model_name="m", owner_id=1, version_id=version, version=version,
        format="skops", kind="classifier", classes=[0, 1], input_schema=None,
        artifact_key="k", sha256="0" * 64,
    )  # fmt: skip


def test_a_lookup_that_began_before_a_change_is_not_kept() -> None:
    cache = TargetCache(60)
    key = (1, False, "m", None, None)
    before = current_generation()
    from modelyard.serving import targets

    targets._move_on()  # a registry write happened while the lookup ran
    cache.put(key, _target(1), before)
    assert cache.get(key) is None
    cache.put(key, _target(2), current_generation())
    assert cache.get(key) == _target(2)
    targets._move_on()
    assert cache.get(key) is None  # an older generation is never served


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = TargetCache(0)
    key = (1, False, "m", None, None)
    cache.put(key, _target(1), current_generation())
    assert cache.get(key) is None
