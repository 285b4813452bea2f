"""Every dashboard route, enumerated from ``app.routes``: anonymous visitors are sent to sign in;
every form needs its token. ``OPEN`` is the explicit allow-list of pages anyone may see; a page
that forgets its sign-in check fails here (``test_a_page_without_sign_in_is_found``)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelyard.web import PREFIX
from tests.helpers import every_route
from tests.web.helpers import WebUser

# The pages anyone may see: signing in and up, and the catch-all that answers "not found".
OPEN = {"/ui/sign-in", "/ui/sign-up", "/ui/{path:path}"}


def _routes(app: FastAPI, method: str) -> list[str]:
    return sorted(
        path
        for path, route in every_route(app)
        if path.startswith(PREFIX + "/") and isinstance(route, APIRoute) and method in route.methods
    )


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def pages_open_to_anonymous_visitors(client: TestClient, app: FastAPI) -> list[tuple[str, int]]:
    """The GET pages outside OPEN that do not send an anonymous visitor to sign in."""
    wrong = []
    for path in _routes(app, "GET"):
        if path in OPEN:
            continue
        response = client.get(_filled(path), follow_redirects=False)
        location = response.headers.get("location", "")
        if response.status_code != 303 or not location.startswith("/ui/sign-in?next="):
            wrong.append((path, response.status_code))
    return wrong


def forms_taken_without_a_token(client: TestClient, app: FastAPI) -> list[tuple[str, int]]:
    """The forms that do not refuse a post without its security token."""
    wrong = []
    for path in _routes(app, "POST"):
        response = client.post(_filled(path), data={"name": "x"}, follow_redirects=False)
        if response.status_code not in (403, 422) or not response.headers[
            "content-type"
        ].startswith("text/html"):
            wrong.append((path, response.status_code))
    return wrong


def test_every_page_sends_anonymous_visitors_to_sign_in(client: TestClient, app: FastAPI) -> None:
    pages = [path for path in _routes(app, "GET") if path not in OPEN]
    assert {"/ui/projections", "/ui/projections/{projection_id}"} <= set(pages)
    assert len(pages) >= 20
    assert pages_open_to_anonymous_visitors(client, app) == []


def test_a_page_without_sign_in_is_found(client: TestClient, app: FastAPI) -> None:
    @app.get(PREFIX + "/forgotten", response_class=HTMLResponse)
    def forgotten_page() -> str:
        """A page whose author forgot the sign-in dependency."""
        return "<p>everyone's data</p>"

    @app.post(PREFIX + "/forgotten")
    def forgotten_form() -> HTMLResponse:
        """A form whose author forgot the security token."""
        return HTMLResponse("<p>done</p>")

    # Ahead of the dashboard's catch-all /ui/{path:path}, as a page of the dashboard would be.
    routes = app.router.routes
    routes[:0] = [routes.pop(), routes.pop()]
    assert pages_open_to_anonymous_visitors(client, app) == [("/ui/forgotten", 200)]
    assert forms_taken_without_a_token(client, app) == [("/ui/forgotten", 200)]


def test_every_form_refuses_a_missing_token(
    client: TestClient, app: FastAPI, alice: WebUser
) -> None:
    assert len(_routes(app, "POST")) >= 16
    assert forms_taken_without_a_token(client, app) == []
    assert client.get("/ui/").status_code == 200  # nothing above signed alice out


def test_every_form_refuses_an_anonymous_post(client: TestClient, app: FastAPI) -> None:
    for path in _routes(app, "POST"):
        response = client.post(_filled(path), data={}, follow_redirects=False)
        # The token is checked first, so even the sign-in form refuses a post without one.
        assert response.status_code in (403, 422), path
        assert "security token" in response.text or "not valid" in response.text, path
