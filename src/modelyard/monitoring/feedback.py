"""Ground truth by predict id: labels joined to the logged answers, checked, stored at once.

A request's labels are taken in batches (an upload of a million never sits in memory whole)
in ONE transaction: each batch's predict ids are looked up in the log, each label is checked
(the id is this model's answered prediction, the row exists, the label is one of the
version's classes, the row is not labelled twice in this request), and the batch is written.
When any label was refused, the transaction is rolled back and the answer names the first
refused ones: nothing is stored half-way. Unknown ids refuse the request too, unless the
caller asks to skip them (``unknown=skip``), and then they are counted and named, never
dropped in silence.

A row labelled by an earlier request gets the new label (``replaced`` counts them): feedback
is idempotent, and late labels (days after the prediction) are normal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db import utcnow
from modelyard.errors import ModelyardError
from modelyard.monitoring import repository
from modelyard.monitoring.classes import ClassIndex
from modelyard.monitoring.exceptions import FeedbackRefused, NoPredictionLog
from modelyard.monitoring.schemas import FeedbackProblem, FeedbackResult
from modelyard.monitoring.uploads import Entry
from modelyard.registry import service as registry

__all__ = ["record_feedback"]


@dataclass
class _Tally:
    limit: int
    report_limit: int
    skip_unknown: bool
    received: int = 0
    stored: int = 0
    replaced: int = 0
    unknown: int = 0
    unknown_ids: list[FeedbackProblem] = field(default_factory=list)
    refused: int = 0
    problems: list[FeedbackProblem] = field(default_factory=list)
    versions: dict[int, int] = field(default_factory=dict)

    def refuse(self, predict_id: str, row: int | None, reason: str) -> None:
        self.refused += 1
        if len(self.problems) < self.report_limit:
            self.problems.append(FeedbackProblem(predict_id=predict_id, row=row, reason=reason))

    def not_found(self, predict_id: str, row: int | None, reason: str) -> None:
        if not self.skip_unknown:
            self.refuse(predict_id, row, reason)
            return
        self.unknown += 1
        if len(self.unknown_ids) < self.report_limit:
            self.unknown_ids.append(FeedbackProblem(predict_id=predict_id, row=row, reason=reason))


@dataclass(frozen=True)
class _Version:
    number: int
    classes: ClassIndex | None


def _answer(output: str | None) -> tuple[list[Any] | None, list[Any] | None]:
    """The logged answer's predictions and probabilities (None where it has none)."""
    if output is None:
        return None, None
    try:
        decoded = orjson.loads(output)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(decoded, dict):
        return None, None
    predictions, probabilities = decoded.get("predictions"), decoded.get("probabilities")
    return (
        predictions if isinstance(predictions, list) else None,
        probabilities if isinstance(probabilities, list) else None,
    )


def record_feedback(
    session: Session,
    caller: User,
    name: str,
    batches: Iterable[list[Entry]],
    *,
    owner_id: int | None = None,
    skip_unknown: bool = False,
    max_labels: int,
    report_limit: int,
) -> FeedbackResult:
    """Store the labels of ``batches`` for the caller's model ``name`` (see the module)."""
    model = registry.resolve_model(session, caller, name, owner_id)
    if not repository.has_logs(session, model.id):
        raise NoPredictionLog(
            f"model {name!r} has no logged predictions: labels are joined to logged answers "
            "by predict id"
        )
    tally = _Tally(max_labels, report_limit, skip_unknown)
    versions: dict[int, _Version] = {}
    # One stamp for the whole request: a row found already labelled WITH this stamp was
    # labelled earlier in this same request, i.e. it is given twice.
    stamp = repository.driver_time(session, utcnow())
    for batch in batches:
        tally.received += len(batch)
        if tally.received > max_labels:
            raise FeedbackRefused(
                f"more than {max_labels} labels in one request; split it",
                details={"max_labels": max_labels},
            )
        rows = _join(session, model.id, batch, versions, tally, stamp)
        if not tally.refused:
            repository.upsert_labels(session, rows)
    if tally.refused:
        raise FeedbackRefused(
            f"{tally.refused} of {tally.received} labels were refused; nothing was stored",
            details={
                "refused": tally.refused,
                "problems": [p.model_dump() for p in tally.problems],
            },
        )
    return FeedbackResult(
        received=tally.received,
        stored=tally.stored,
        replaced=tally.replaced,
        unknown=tally.unknown,
        unknown_ids=tally.unknown_ids,
        versions=tally.versions,
    )


def _version(session: Session, version_id: int, versions: dict[int, _Version]) -> _Version:
    found = versions.get(version_id)
    if found is None:
        try:
            target = registry.version_target(session, version_id)
        except ModelyardError:
            found = _Version(0, None)
        else:
            classes = ClassIndex(target.classes) if target.classes else None
            found = _Version(target.version, classes)
        versions[version_id] = found
    return found


def _join(
    session: Session,
    model_id: int,
    batch: list[Entry],
    versions: dict[int, _Version],
    tally: _Tally,
    stamp: Any,
) -> list[tuple[Any, ...]]:
    answers = {
        row.predict_id: row
        for row in repository.answers_by_predict_id(session, list({e[0] for e in batch}))
    }
    existing = {
        (row.log_id, row.row_index): row.updated_at
        for row in repository.existing_labels(session, [a.id for a in answers.values()])
    }
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[int, int]] = set()
    decoded: dict[int, tuple[list[Any] | None, list[Any] | None]] = {}
    for predict_id, row, label in batch:
        answer = answers.get(predict_id)
        # Another model's (or another user's) prediction is as unknown as a made-up id.
        if answer is None or answer.model_id != model_id:
            tally.not_found(predict_id, row, "no such prediction in this model's log")
            continue
        if answer.status != 200 or answer.output is None:
            tally.not_found(predict_id, row, "the prediction failed: it has no answer")
            continue
        if answer.version_id is None:
            tally.not_found(predict_id, row, "the prediction's version was deleted")
            continue
        if row is None:
            if answer.n_rows != 1:
                tally.refuse(predict_id, row, f"the request had {answer.n_rows} rows: name the row")
                continue
            row = 0
        elif row >= answer.n_rows:
            tally.refuse(predict_id, row, f"the request had {answer.n_rows} rows")
            continue
        version = _version(session, answer.version_id, versions)
        if version.classes is None:
            tally.refuse(predict_id, row, "the version has no classes to label with")
            continue
        label_index = version.classes.index(label)
        if label_index < 0:
            tally.refuse(predict_id, row, f"{_shown(label)} is not one of the version's classes")
            continue
        key = (answer.id, row)
        before = existing.get(key)
        if key in seen or before == stamp:
            tally.refuse(predict_id, row, "labelled twice in this request")
            continue
        seen.add(key)
        if answer.id not in decoded:
            decoded[answer.id] = _answer(answer.output)
        predictions, probabilities = decoded[answer.id]
        predicted = predictions[row] if predictions is not None and row < len(predictions) else None
        scores = (
            probabilities[row] if probabilities is not None and row < len(probabilities) else None
        )
        if before is None:
            tally.stored += 1
        else:
            tally.replaced += 1
        tally.versions[version.number] = tally.versions.get(version.number, 0) + 1
        rows.append(
            (  # repository.LABEL_COLUMNS
                model_id,
                answer.version_id,
                answer.id,
                row,
                label_index,
                version.classes.index(predicted),
                orjson.dumps(scores).decode() if isinstance(scores, list) else None,
                answer.created_at,
                stamp,
                stamp,
            )
        )
    return rows


def _shown(label: Any) -> str:
    """A label as a refusal quotes it: cut short, so a huge label cannot swell the answer."""
    text = repr(label)
    return text if len(text) <= 60 else text[:57] + "..."
