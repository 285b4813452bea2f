"""Using the dashboard as a browser would: read a form's CSRF token, post forms."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from tests.helpers import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebUser:
    client: TestClient
    login: str
    password: str = PASSWORD

    def csrf(self, path: str = "/ui/keys") -> str:
        return csrf_of(self.client, path)

    def post(
        self,
        path: str,
        data: dict[str, object] | None = None,
        token: str | None = None,
        **kwargs: object,
    ) -> httpx.Response:
        form = {"csrf_token": token or self.csrf(), **(data or {})}
        return self.client.post(path, data=form, **kwargs)  # type: ignore[arg-type]


def csrf_of(client: TestClient, path: str) -> str:
    response = client.get(path)
    found = _TOKEN.search(response.text)
    assert found, f"no CSRF token on {path}: {response.status_code} {response.text[:300]}"
    return found.group(1)


def web_sign_up(client: TestClient, email: str, password: str = PASSWORD) -> WebUser:
    token = csrf_of(client, "/ui/sign-up")
    response = client.post(
        "/ui/sign-up", data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    assert response.url.path == "/ui/", response.url
    return WebUser(client, email, password)


def web_sign_in(client: TestClient, login: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client, "/ui/sign-in")
    return client.post(
        "/ui/sign-in", data={"csrf_token": token, "login": login, "password": password}
    )
