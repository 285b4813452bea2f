"""The route class of every page: errors become an HTML page, never a JSON body.

A page route that raises a ``ModelyardError`` (a missing object, a refused input, a stale form
token) answers the same status as the API would, as a page that says what went wrong. A
visitor who is not signed in is sent to the sign-in page and brought back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from modelyard.errors import ModelyardError
from modelyard.web.context import NotSignedIn, PageContext, templates

__all__ = ["PageRoute", "error_page"]

log = logging.getLogger(__name__)


def error_page(
    request: Request, status: int, title: str, message: str, details: Any = None
) -> Response:
    context: PageContext | None = getattr(request.state, "page_context", None)
    values = {"title": title, "message": message, "details": details, "status": status}
    if context is not None:
        return context.render("error.html", status_code=status, **values)
    values.update(request=request, me=None, csrf="", flash=[])
    response: HTMLResponse = templates.TemplateResponse(
        request, "error.html", values, status_code=status
    )
    return response


def _validation_lines(exc: RequestValidationError) -> list[str]:
    lines = []
    for err in exc.errors()[:20]:
        where = ".".join(str(part) for part in err.get("loc", ())[1:]) or "form"
        lines.append(f"{where}: {err.get('msg', '')}")
    return lines


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                if request.method != "GET":
                    target = "/ui/"
                return RedirectResponse(f"/ui/sign-in?next={quote(target)}", status_code=303)
            except ModelyardError as exc:
                if exc.status_code >= 500:
                    log.error("page error: %s", exc.message, exc_info=exc)
                details = exc.details if isinstance(exc.details, list | dict) else None
                return error_page(
                    request, exc.status_code, _title(exc.status_code), exc.message, details
                )
            except RequestValidationError as exc:
                return error_page(
                    request,
                    422,
                    "Some of what you sent is not valid",
                    "Please check the form.",
                    _validation_lines(exc),
                )

        return page_handler


def _title(status: int) -> str:
    return {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        422: "Some of what you sent is not valid",
        429: "Too many attempts",
    }.get(status, "Something went wrong")
