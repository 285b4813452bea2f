from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.helpers import sign_up


def test_live_and_ready(client: TestClient) -> None:
    assert client.get("/api/v1/health/live").json() == {"status": "ok"}
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_not_ready_when_the_schema_is_behind(client: TestClient) -> None:
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.engine.begin() as conn:
        (revision,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        response = client.get("/api/v1/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"].startswith("at old")
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    account = sign_up(client, "metrics@example.com")
    client.get("/api/v1/users/me", headers=account.headers)
    client.get("/api/v1/admin/users/12345", headers=account.headers)
    body = client.get("/metrics").text
    assert (
        'modelyard_http_requests_total{method="GET",route="/api/v1/users/me",status="200"} 1.0'
        in body
    )
    assert 'route="/api/v1/admin/users/{user_id}",status="403"' in body
    assert "modelyard_http_request_duration_seconds_bucket" in body


def test_liveness_answers_head_too(client: TestClient) -> None:
    assert client.head("/api/v1/health/live").status_code == 200


def test_the_documented_not_ready_answer_is_the_readiness_body(client: TestClient) -> None:
    # schemathesis found the 503 documented as the native error while it is {status, checks}.
    document = client.get("/openapi.json").json()
    answers = document["paths"]["/api/v1/health/ready"]["get"]["responses"]
    for status in ("200", "503"):
        schema = answers[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Readiness"}, status
