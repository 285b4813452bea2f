"""Every dashboard route: anonymous visitors are sent to sign in; every form needs its token."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelyard.web import PREFIX
from modelyard.web.pages import account, admin, evaluation, models, training
from tests.web.helpers import WebUser

OPEN = {"/ui/sign-in", "/ui/sign-up", "/ui/{path:path}"}


def _routes(method: str) -> list[str]:
    return sorted(
        PREFIX + route.path
        for module in (account, admin, evaluation, models, training)
        for route in module.router.routes
        if isinstance(route, APIRoute) and method in route.methods
    )


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_page_sends_anonymous_visitors_to_sign_in(client: TestClient) -> None:
    pages = [p for p in _routes("GET") if p not in OPEN]
    assert len(pages) >= 12
    for path in pages:
        response = client.get(_filled(path), follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/sign-in?next="), path


def test_every_form_refuses_a_missing_token(client: TestClient, alice: WebUser) -> None:
    forms = _routes("POST")
    assert len(forms) >= 12
    for path in forms:
        response = client.post(_filled(path), data={"name": "x"}, follow_redirects=False)
        assert response.status_code in (403, 422), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
    assert client.get("/ui/").status_code == 200  # nothing above signed alice out


def test_every_form_refuses_an_anonymous_post(client: TestClient) -> None:
    for path in _routes("POST"):
        response = client.post(_filled(path), data={}, follow_redirects=False)
        # The token is checked first, so even the sign-in form refuses a post without one.
        assert response.status_code in (403, 422), path
        assert "security token" in response.text or "not valid" in response.text, path
