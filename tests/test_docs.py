from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_docs_pages_load_their_assets_from_the_service(client: TestClient) -> None:
    for page, asset in (
        ("/docs", "/static-offline-docs/swagger-ui-bundle.js"),
        ("/redoc", "/static-offline-docs/redoc.standalone.js"),
    ):
        html = client.get(page)
        assert html.status_code == 200
        assert asset in html.text
        assert "cdn." not in html.text and "https://" not in html.text.replace(
            "https://fastapi.tiangolo.com", ""
        )
        assert client.get(asset).status_code == 200


def test_openapi_has_a_tag_per_domain(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    tags = {tag for path in spec["paths"].values() for op in path.values() for tag in op["tags"]}
    assert {"auth", "admin", "jobs", "system", "compat: pycm-api"} <= tags


def undocumented(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """The operations without a description. FastAPI always fills ``summary`` from the
    function's name; ``description`` comes from the docstring (or is given)."""
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if not operation.get("description", "").strip()
    ]


def test_every_endpoint_has_a_docstring(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert len(spec["paths"]) >= 100
    assert undocumented(spec) == []


def test_an_endpoint_without_a_docstring_is_found(app: FastAPI) -> None:
    @app.get("/api/v1/undocumented")
    def undocumented_endpoint() -> dict[str, str]:
        return {}

    assert undocumented(app.openapi()) == [("GET", "/api/v1/undocumented")]
