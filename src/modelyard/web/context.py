"""Who is looking at a page: the signed session cookie, its CSRF token, and page rendering.

The session is a cookie signed with the service's secret key (itsdangerous); it holds the user
id and a random CSRF token, nothing else. Anonymous visitors get a session too, so the sign-in
and sign-up forms carry a token like every other form. A form's token must equal the one in the
signed cookie: another site can make a browser send the cookie, but cannot read it to copy the
token into its form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.auth.exceptions import UserNotFound
from modelyard.auth.models import User
from modelyard.db import SessionDep
from modelyard.errors import ModelyardError, PermissionDenied
from modelyard.web import charts

__all__ = [
    "SESSION_COOKIE",
    "AdminPage",
    "CsrfChecked",
    "CsrfRefused",
    "NotSignedIn",
    "Page",
    "PageContext",
    "SignedIn",
    "templates",
]

SESSION_COOKIE = "modelyard_session"
SESSION_SECONDS = 12 * 3600
_SALT = "modelyard.web.session"
_HERE = Path(__file__).parent

templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.globals["bar_chart"] = charts.bar_chart
templates.env.globals["line_chart"] = charts.line_chart
templates.env.filters["number"] = charts.number
templates.env.filters["when"] = charts.when


class NotSignedIn(ModelyardError):
    status_code = 401
    code = "unauthenticated"
    message = "Sign in to see this page"


class CsrfRefused(ModelyardError):
    status_code = 403
    code = "csrf_refused"
    message = "The form's security token is missing or out of date; reload the page and retry"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret: str = request.app.state.web_secret
    return URLSafeTimedSerializer(secret, salt=_SALT)


@dataclass
class PageContext:
    """The request's session (read from its cookie), the signed-in user, and flash messages."""

    request: Request
    db: Session
    user: User | None
    csrf: str
    dirty: bool = False
    flash: list[str] = field(default_factory=list)

    # --- session -------------------------------------------------------------------------

    def sign_in(self, user: User) -> None:
        # A fresh token on sign-in: a token planted before (session fixation) is worthless.
        self.user = user
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def sign_out(self) -> None:
        self.user = None
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def _store(self, response: Response) -> Response:
        if self.dirty:
            payload = {
                "uid": self.user.id if self.user else None,
                "csrf": self.csrf,
                "pw": _password_mark(self.user),
            }
            response.set_cookie(
                SESSION_COOKIE,
                _serializer(self.request).dumps(payload),
                max_age=SESSION_SECONDS,
                httponly=True,
                samesite="lax",
                secure=self.request.url.scheme == "https",
                path="/",
            )
        return response

    # --- responses -----------------------------------------------------------------------

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        values.update(request=self.request, me=self.user, csrf=self.csrf, flash=self.flash)
        response = templates.TemplateResponse(
            self.request, template, values, status_code=status_code
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        self._store(response)
        return response

    def redirect(self, path: str, message: str | None = None) -> RedirectResponse:
        if message:
            path += ("&" if "?" in path else "?") + "msg=" + quote(message)
        return self._store(RedirectResponse(path, status_code=303))  # type: ignore[return-value]

    @property
    def signed_in(self) -> User:
        if self.user is None:
            raise NotSignedIn()
        return self.user


def _password_mark(user: User | None) -> str:
    # A digest of the password hash, never the hash itself: the cookie is signed, not secret.
    if user is None:
        return ""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _read_session(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None


def get_page_context(request: Request, session: SessionDep) -> PageContext:
    data = _read_session(request)
    if data is None:
        context = PageContext(request, session, None, secrets.token_urlsafe(24), dirty=True)
    else:
        user = None
        if isinstance(data.get("uid"), int):
            try:
                user = auth.get_user(session, data["uid"])
            except UserNotFound:
                user = None
            # A disabled account's open sessions end with it, and so do the sessions opened
            # with a password that has since been changed.
            if user is not None and (
                not user.is_active
                or not hmac.compare_digest(str(data.get("pw", "")), _password_mark(user))
            ):
                user = None
        context = PageContext(request, session, user, data["csrf"])
        if data.get("uid") is not None and user is None:
            context.sign_out()
    message = request.query_params.get("msg")
    if message:
        context.flash.append(message[:300])
    request.state.page_context = context
    return context


Page = Annotated[PageContext, Depends(get_page_context)]


def require_user(context: Page) -> PageContext:
    context.signed_in  # noqa: B018 - raises NotSignedIn
    return context


SignedIn = Annotated[PageContext, Depends(require_user)]


def require_admin(context: SignedIn) -> PageContext:
    if not context.signed_in.is_admin:
        raise PermissionDenied("This page is for admins")
    return context


AdminPage = Annotated[PageContext, Depends(require_admin)]


def check_csrf(
    context: Page, csrf_token: Annotated[str | None, Form(max_length=200)] = None
) -> PageContext:
    if not csrf_token or not hmac.compare_digest(csrf_token, context.csrf):
        raise CsrfRefused()
    return context


CsrfChecked = Annotated[PageContext, Depends(check_csrf)]
