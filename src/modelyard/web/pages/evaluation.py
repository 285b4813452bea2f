"""Confusion matrices: list, detail, create from pasted vectors, compare."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from modelyard.errors import ModelyardError
from modelyard.evaluation import service as evaluation
from modelyard.evaluation.responses import download_response, html_response, png_response
from modelyard.evaluation.schemas import ConfusionMatrixCreate
from modelyard.evaluation.service import Evaluation
from modelyard.web.context import CsrfChecked, SignedIn
from modelyard.web.routing import PageRoute

__all__ = ["parse_labels", "router"]

router = APIRouter(prefix="/matrices", route_class=PageRoute)

Uid = Annotated[str, Path(max_length=64)]
HEADLINE = ("accuracy", "precision", "recall", "f1")
_SPLIT = re.compile(r"[\s,;]+")


def _evaluation(request: Request) -> Evaluation:
    return Evaluation(
        artifacts=request.app.state.artifacts, settings=request.app.state.settings.evaluation
    )


def _token(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_labels(text: str) -> list[Any]:
    """Labels as people paste them: a JSON list, or values separated by commas or spaces."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelyardError(f"That looks like JSON but is not: {exc}") from exc
        if not isinstance(value, list):
            raise ModelyardError("Give a list of labels.")
        return value
    tokens = [t.strip("\"'") for t in _SPLIT.split(text) if t.strip("\"'")]
    values = [_token(t) for t in tokens]
    # One kind for the whole vector: "1 2 x" is three text labels, not two numbers and a word.
    if all(isinstance(v, int) for v in values):
        return values
    if all(isinstance(v, int | float) for v in values):
        return [float(v) for v in values]
    return tokens


@router.get("")
def matrices(page: SignedIn, offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Response:
    """List my confusion matrices."""
    listed = evaluation.list_mine(page.db, page.signed_in.id, limit=50, offset=offset)
    return page.render("matrices.html", title="Confusion matrices", page_of=listed)


@router.get("/new")
def new_matrix(page: SignedIn) -> Response:
    """Show the form that makes a matrix from pasted vectors."""
    return page.render("matrix_new.html", title="New confusion matrix", form={})


@router.post("/new")
def create_matrix(
    request: Request,
    page: CsrfChecked,
    actual: Annotated[str, Form(max_length=5_000_000)],
    predicted: Annotated[str, Form(max_length=5_000_000)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create a matrix from pasted actual and predicted labels."""
    me = page.signed_in
    form = {"actual": actual, "predicted": predicted, "name": name}
    try:
        body = ConfusionMatrixCreate(
            actual=parse_labels(actual),
            predicted=parse_labels(predicted),
            name=name.strip() or None,
        )
        record = evaluation.create(page.db, _evaluation(request), me.id, body)
    except ValidationError as exc:
        errors = [str(e.get("msg", "")) for e in exc.errors(include_url=False)[:5]]
        return page.render(
            "matrix_new.html",
            status_code=422,
            title="New confusion matrix",
            form=form,
            error="; ".join(errors),
        )
    except ModelyardError as exc:
        status = exc.status_code if 400 <= exc.status_code < 500 else 422
        return page.render(
            "matrix_new.html",
            status_code=status,
            title="New confusion matrix",
            form=form,
            error=exc.message,
        )
    return page.redirect(f"/ui/matrices/{record.uid}", "Matrix created.")


@router.get("/compare")
def compare(
    request: Request,
    page: SignedIn,
    uid: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> Response:
    """Compare several of my matrices: scores, order and the best one."""
    me = page.signed_in
    mine = evaluation.list_mine(page.db, me.id, limit=200, offset=0).items
    names = {m.uid: m.name or m.uid for m in mine}
    result, error = None, None
    chosen = list(dict.fromkeys(uid or []))
    if chosen:
        try:
            result = evaluation.compare(page.db, _evaluation(request).settings, me.id, chosen)
        except ModelyardError as exc:
            error = exc.message
            if isinstance(exc.details, dict) and exc.details.get("missing"):
                error += ": " + ", ".join(map(str, exc.details["missing"]))
    order = result.order if result else []
    chart_labels = [names.get(u, u)[:24] for u in order]
    chart_values = [float(result.scores[u].get("overall") or 0.0) for u in order] if result else []
    return page.render(
        "compare.html",
        chart_labels=chart_labels,
        chart_values=chart_values,
        status_code=422 if error else 200,
        title="Compare confusion matrices",
        mine=mine,
        chosen=chosen,
        result=result,
        names=names,
        error=error,
    )


@router.get("/{uid}")
def matrix(page: SignedIn, uid: Uid) -> Response:
    """Show one matrix: headline metrics, the matrix, every statistic, the plot."""
    me = page.signed_in
    read = evaluation.read(evaluation.get(page.db, uid, me.id), statistics=True)
    biggest = max((v for row in read.matrix for v in row), default=0) or 1
    heat = [[min(9, int(9 * v / biggest)) for v in row] for row in read.matrix]
    return page.render(
        "matrix.html",
        title=read.name or "Confusion matrix",
        m=read,
        heat=heat,
        headline=HEADLINE,
    )


@router.get("/{uid}/plot.png")
def matrix_plot(request: Request, page: SignedIn, uid: Uid, normalized: bool = False) -> Response:
    """The matrix as a PNG heat map."""
    data = evaluation.plot(
        page.db, _evaluation(request), uid, page.signed_in.id, normalized=normalized
    )
    return png_response(data)


@router.get("/{uid}/report")
def matrix_report(request: Request, page: SignedIn, uid: Uid) -> Response:
    """PyCM's HTML report of the matrix."""
    data = evaluation.report(page.db, _evaluation(request), uid, page.signed_in.id)
    return html_response(data)


@router.get("/{uid}/statistics.csv")
def matrix_statistics_csv(page: SignedIn, uid: Uid) -> Response:
    """PyCM's per-class statistics as CSV, for the signed-in browser (the API wants a key)."""
    body = evaluation.matrix_csv(page.db, uid, page.signed_in.id).encode()
    return download_response(body, "text/csv; charset=utf-8", f"{uid}.csv")


@router.get("/{uid}/matrix.obj")
def matrix_obj(request: Request, page: SignedIn, uid: Uid) -> Response:
    """PyCM's .obj file of the matrix, for the signed-in browser."""
    body = evaluation.matrix_obj(page.db, _evaluation(request), uid, page.signed_in.id)
    return download_response(body, "application/json", f"{uid}.obj")


@router.post("/{uid}/delete")
def delete_matrix(request: Request, page: CsrfChecked, uid: Uid) -> Response:
    """Delete one of my matrices."""
    evaluation.delete(page.db, _evaluation(request), uid, page.signed_in.id)
    return page.redirect("/ui/matrices", "Matrix deleted.")
