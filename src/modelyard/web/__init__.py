"""The dashboard: server-rendered pages over the domain services, under ``/ui``.

Every asset (CSS, the little JavaScript, charts drawn as SVG) is served by this process, so the
dashboard works on a closed network.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from modelyard.web.pages import (
    account,
    admin,
    evaluation,
    models,
    monitoring,
    projections,
    training,
)

__all__ = ["PREFIX", "install"]

PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, secret_key: str) -> None:
    """Add the pages, their static files, and a redirect from ``/`` to the dashboard."""
    app.state.web_secret = secret_key
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="web-static")
    for module in (evaluation, projections, monitoring, models, training, admin, account):
        # account last: it ends with the catch-all page for unknown addresses.
        app.include_router(module.router, prefix=PREFIX, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    # Browsers ask for /favicon.ico on every page whatever the page links to.
    icon = (STATIC / "favicon.svg").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(
            icon, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
        )
