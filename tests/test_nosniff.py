"""``X-Content-Type-Options: nosniff`` on every answer: API, compatibility routes, dashboard
pages, static files, docs, errors."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.helpers import Account, every_route, sign_up

_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def test_every_route_answers_nosniff(client: TestClient, app: FastAPI) -> None:
    account: Account = sign_up(client, "sniff@example.com")
    missing = []
    tried = 0
    for path, route in every_route(app):
        if isinstance(route, Mount):
            targets = [(f"{path}/app.css", "GET")] if "static" in path else [(path, "GET")]
        else:
            filled = _PARAM.sub("1", path)
            targets = [
                (filled, method) for method in sorted(getattr(route, "methods", None) or {"GET"})
            ]
        for target, method in targets:
            for headers in ({}, account.headers):
                response = client.request(method, target, headers=headers)
                tried += 1
                if response.headers.get("x-content-type-options") != "nosniff":
                    missing.append(f"{method} {target} {response.status_code}")
    assert tried > 200
    assert not missing, missing


def test_static_files_docs_and_unknown_paths_answer_nosniff(client: TestClient) -> None:
    for path in ("/ui/static/app.css", "/docs", "/openapi.json", "/ui/login", "/no/such/path"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
    assert client.get("/ui/static/app.css").status_code == 200
