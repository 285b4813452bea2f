"""Sign up, sign in, sign out, the home page and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from modelyard.auth import service as auth
from modelyard.auth.dependencies import SecurityDep, ThrottleDep
from modelyard.auth.exceptions import AccountDisabled, InvalidCredentials, SignInBusy
from modelyard.errors import ModelyardError, NotFound
from modelyard.evaluation import service as evaluation
from modelyard.jobs import service as jobs
from modelyard.pagination import IntId
from modelyard.registry import service as registry
from modelyard.training.service import TRAIN_JOB
from modelyard.web.context import CsrfChecked, Page, SignedIn
from modelyard.web.pages.projections import list_projections_of
from modelyard.web.routing import PageRoute

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

Text = Annotated[str, Form(max_length=4096)]


def _safe_next(target: str | None) -> str:
    # Only a path of this dashboard: an open redirect would lend our name to a phishing link.
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("/sign-in")
def sign_in_form(page: Page, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Show the sign-in form."""
    if page.user is not None:
        return page.redirect(_safe_next(next))
    return page.render("sign_in.html", title="Sign in", next=_safe_next(next), login="")


@router.post("/sign-in")
def sign_in(
    page: CsrfChecked,
    security: SecurityDep,
    throttle: ThrottleDep,
    login: Annotated[str, Form(max_length=320)],
    password: Text,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Sign in with an e-mail or username and a password."""
    status, headers = 401, {}
    try:
        user = auth.authenticate_password(page.db, security, throttle, login, password)
    except InvalidCredentials:
        error = "Wrong e-mail, username or password."
    except AccountDisabled:
        status, error = 403, "This account is disabled. Ask an admin to enable it."
    except ModelyardError as exc:  # throttled (429) or too busy (503): both say when to retry
        status, error, headers = exc.status_code, exc.message, exc.headers
    else:
        page.sign_in(user)
        return page.redirect(_safe_next(next))
    response = page.render(
        "sign_in.html",
        status_code=status,
        title="Sign in",
        next=_safe_next(next),
        login=login,
        error=error,
    )
    response.headers.update(headers)
    return response


@router.get("/sign-up")
def sign_up_form(page: Page) -> Response:
    """Show the sign-up form."""
    return page.render("sign_up.html", title="Sign up", email="", username="")


@router.post("/sign-up")
def sign_up(
    page: CsrfChecked,
    security: SecurityDep,
    password: Text,
    email: Annotated[str, Form(max_length=320)] = "",
    username: Annotated[str, Form(max_length=150)] = "",
) -> Response:
    """Create an account and sign in with it."""
    try:
        if email.strip() and "@" not in email:
            raise ModelyardError("That e-mail address has no '@'.")
        user = auth.sign_up(
            page.db,
            security,
            password=password,
            email=email.strip() or None,
            username=username.strip() or None,
        )
    except ModelyardError as exc:
        busy = isinstance(exc, SignInBusy)
        response = page.render(
            "sign_up.html",
            status_code=exc.status_code if exc.status_code < 500 or busy else 422,
            title="Sign up",
            email=email,
            username=username,
            error=exc.message,
        )
        response.headers.update(exc.headers)
        return response
    page.sign_in(user)
    return page.redirect("/ui/", "Welcome! Your account is ready.")


@router.post("/sign-out")
def sign_out(page: CsrfChecked) -> Response:
    """Sign out."""
    page.sign_out()
    return page.redirect("/ui/sign-in", "You are signed out.")


@router.get("/")
def home(page: SignedIn) -> Response:
    """Show what I own and my recent jobs."""
    me = page.signed_in
    models = [
        m
        for m in registry.list_models(page.db, me, limit=200, offset=0).items
        if m.owner_id == me.id
    ]
    matrices = evaluation.list_mine(page.db, me.id, limit=10, offset=0)
    recent = [
        j
        for j in jobs.list_jobs(page.db, caller=me, limit=50, offset=0).items
        if j.owner_id == me.id
    ][:10]
    runs = [
        j
        for j in jobs.list_jobs(page.db, caller=me, kind=TRAIN_JOB, limit=50, offset=0).items
        if j.owner_id == me.id
    ][:10]
    return page.render(
        "home.html",
        title="Home",
        models=models,
        matrices=matrices,
        jobs=recent,
        runs=runs,
        projections=[read for _, read in list_projections_of(page, limit=10)],
    )


@router.get("/keys")
def keys(page: SignedIn) -> Response:
    """List my API keys."""
    return page.render(
        "keys.html",
        title="API keys",
        keys=auth.list_api_keys(page.db, page.signed_in),
        new_key=None,
    )


@router.post("/keys")
def create_key(
    page: CsrfChecked, name: Annotated[str, Form(min_length=1, max_length=100)]
) -> Response:
    """Create an API key and show its secret this once."""
    me = page.signed_in
    key, secret = auth.create_api_key(page.db, me, name.strip() or "default")
    page.db.flush()
    return page.render(
        "keys.html",
        status_code=201,
        title="API keys",
        keys=auth.list_api_keys(page.db, me),
        new_key=secret,
        new_key_name=key.name,
    )


@router.post("/keys/{key_id}/revoke")
def revoke_key(page: CsrfChecked, key_id: IntId) -> Response:
    """Revoke one of my API keys."""
    auth.revoke_api_key(page.db, page.signed_in, key_id)
    return page.redirect("/ui/keys", "The key is revoked.")


@router.get("/{path:path}")
def not_found(page: Page, path: str) -> Response:
    """Answer an unknown dashboard address with a page, not a bare 404."""
    raise NotFound(f"There is no page at /ui/{path}.")
