"""HTTP responses for reports, plots and downloads, with headers that keep them inert."""

from __future__ import annotations

from fastapi.responses import Response

__all__ = ["REPORT_CSP", "download_response", "html_response", "png_response"]

# PyCM's report is static HTML with inline styles: nothing else may load or run.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_INERT = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}


def html_response(body: bytes) -> Response:
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={**_INERT, "Content-Security-Policy": REPORT_CSP},
    )


def png_response(body: bytes) -> Response:
    return Response(body, media_type="image/png", headers=_INERT)


def download_response(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={**_INERT, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
