"""Small helpers the tests share: accounts, tokens and headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from modelyard.auth.service import ensure_admin

PASSWORD = "test123"


@dataclass
class Account:
    id: int
    login: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> Account:
    response = client.post("/api/v1/users", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return Account(response.json()["id"], email, password, token_for(client, email, password))


def token_for(client: TestClient, login: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def make_admin(client: TestClient, email: str = "admin@example.com") -> Account:
    app = client.app
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        user = ensure_admin(
            session,
            app.state.security,
            password=PASSWORD,
            email=email,  # type: ignore[attr-defined]
        )
        user_id = user.id
    return Account(user_id, email, PASSWORD, token_for(client, email))


def access_claims(user_id: int = 1, **overrides: object) -> dict[str, object]:
    """The claims of a valid access token; an override of None leaves that claim out."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}
