"""Admin: users (enable, disable, delete) and every matrix, model, run and job."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from modelyard.auth import service as auth
from modelyard.evaluation import service as evaluation
from modelyard.jobs import service as jobs
from modelyard.pagination import IntId
from modelyard.registry import service as registry
from modelyard.storage.dependencies import ArtifactsDep
from modelyard.training.service import TRAIN_JOB
from modelyard.web.context import AdminPage, CsrfChecked
from modelyard.web.pages.projections import list_projections_of
from modelyard.web.routing import PageRoute

__all__ = ["router"]

router = APIRouter(prefix="/admin", route_class=PageRoute)
SHOWN = 200


@router.get("")
def admin(page: AdminPage) -> Response:
    """Show every user, matrix, model, training run, projection and job."""
    me = page.signed_in
    users, user_total = auth.list_users(page.db, limit=SHOWN, offset=0)
    all_jobs = jobs.list_jobs(page.db, caller=me, limit=SHOWN, offset=0)
    runs = jobs.list_jobs(page.db, caller=me, kind=TRAIN_JOB, limit=SHOWN, offset=0)
    return page.render(
        "admin.html",
        title="Admin",
        users=users,
        user_total=user_total,
        matrices=evaluation.list_all(page.db, limit=SHOWN, offset=0),
        models=registry.list_models(page.db, me, limit=SHOWN, offset=0),
        jobs=all_jobs,
        runs=runs,
        projections=list_projections_of(page, every=True, limit=SHOWN),
        shown=SHOWN,
        logins={u.id: u.email or u.username for u in users},
    )


@router.post("/users/{user_id}/disable")
def disable_user(page: CsrfChecked, admin: AdminPage, user_id: IntId) -> Response:
    """Disable a user: they can no longer sign in, and their keys stop working."""
    user = auth.update_user(page.db, admin.signed_in, user_id, is_active=False)
    return page.redirect("/ui/admin", f"{user.email or user.username} is disabled.")


@router.post("/users/{user_id}/enable")
def enable_user(page: CsrfChecked, admin: AdminPage, user_id: IntId) -> Response:
    """Enable a user again."""
    user = auth.update_user(page.db, admin.signed_in, user_id, is_active=True)
    return page.redirect("/ui/admin", f"{user.email or user.username} is enabled.")


@router.post("/users/{user_id}/delete")
def delete_user(
    page: CsrfChecked, admin: AdminPage, user_id: IntId, store: ArtifactsDep
) -> Response:
    """Delete a user and everything they own."""
    auth.delete_user(page.db, admin.signed_in, user_id, store)
    return page.redirect("/ui/admin", "The user is deleted.")
