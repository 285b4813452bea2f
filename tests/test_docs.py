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
    assert all(
        op.get("description") or op.get("summary")
        for path in spec["paths"].values()
        for op in path.values()
    )
