"""Stored confusion matrices: create, read, replace, rename, delete, list, report, plot, compare.

Transport-free: callers pass the session, the artifact store and the evaluation settings.

The row holds the counts and the headline, so reading a matrix needs no file. The files (PyCM's
.obj, the HTML report, the default plot) are derived from the row: each is written to the
artifact store the first time it is asked for, its key kept in the row for that version of the
matrix. Creating a matrix thus writes no file (an fsync'd write cost more than the rest of a
small create). Files a change or a delete leaves behind are removed once the transaction has
committed, so a rollback never loses a live file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
import pycm
from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.config import EvaluationSettings
from modelyard.db import after_commit, utcnow
from modelyard.evaluation import plots, pycm_adapter, repository
from modelyard.evaluation.counting import (
    Counted,
    count_int_arrays,
    count_vectors,
    matrix_from_rows,
)
from modelyard.evaluation.exceptions import (
    ConfusionMatrixNotFound,
    InvalidEvaluationInput,
    LimitExceeded,
)
from modelyard.evaluation.headline import integer_headline
from modelyard.evaluation.models import ConfusionMatrixRecord
from modelyard.evaluation.schemas import (
    CompareResult,
    ConfusionMatrixCreate,
    ConfusionMatrixRead,
    ConfusionMatrixSummary,
    MatrixStats,
)
from modelyard.evaluation.uids import new_uid
from modelyard.group_commit import GroupCommit
from modelyard.schemas import Page
from modelyard.storage import ArtifactNotFound, ArtifactStore

__all__ = [
    "DEFAULT_COLOR_MAP",
    "Evaluation",
    "compare",
    "create",
    "create_from_int_arrays",
    "create_grouped",
    "delete",
    "get",
    "is_small",
    "list_all",
    "list_mine",
    "matrix_csv",
    "matrix_obj",
    "plot",
    "read",
    "rename",
    "replace",
    "report",
    "store_counted",
    "summary",
    "uids_by_owner",
]

DEFAULT_COLOR_MAP = "Blues"

auth.on_user_delete("evaluation", repository.owner_file_keys)


@dataclass(frozen=True)
class Evaluation:
    """What every stored-matrix operation needs besides the session."""

    artifacts: ArtifactStore
    settings: EvaluationSettings


def _count(body: ConfusionMatrixCreate, settings: EvaluationSettings) -> Counted:
    if body.matrix is not None:
        return matrix_from_rows(
            body.matrix,
            body.classes,
            max_classes=settings.max_classes,
            max_label_length=settings.max_label_length,
        )
    assert body.actual is not None and body.predicted is not None  # the schema's validator
    return count_vectors(
        body.actual,
        body.predicted,
        classes=body.classes,
        sample_weight=body.sample_weight,
        max_length=settings.max_vector_length,
        max_classes=settings.max_classes,
        max_label_length=settings.max_label_length,
    )


@dataclass(frozen=True)
class _Computed:
    kind: str
    classes: list[object]
    rows: list[list[float]]
    headline: dict[str, float | None]


def _compute(counted: Counted) -> _Computed:
    quick = integer_headline(counted.matrix)
    if quick is not None:
        # PyCM keeps the given class order for integer counts; its headline is computed the
        # same way from the counts (headline.py), without all its other statistics.
        return _Computed(
            kind=counted.kind,
            classes=list(counted.classes),
            rows=counted.matrix.tolist(),
            # A flat record of four floats: dataclasses.asdict would deep-copy each one.
            headline=vars(quick).copy(),
        )
    cm = pycm_adapter.build_matrix(counted.classes, counted.matrix)
    # PyCM decides the class order (it sorts weighted matrices); the row follows it.
    classes = list(cm.classes)
    rows = cm.to_array().tolist()
    return _Computed(
        kind=counted.kind,
        classes=classes,
        rows=rows,
        headline=asdict(pycm_adapter.headline(cm)),
    )


def store_counted(
    session: Session, ev: Evaluation, owner_id: int, counted: Counted, name: str | None
) -> ConfusionMatrixRecord:
    """Store an already counted matrix for ``owner_id``."""
    computed = _compute(counted)
    record = ConfusionMatrixRecord(
        uid=new_uid(),
        owner_id=owner_id,
        name=name,
        label_kind=computed.kind,
        classes=computed.classes,
        matrix=computed.rows,
        headline=computed.headline,
    )
    return repository.add(session, record)


def create(
    session: Session, ev: Evaluation, owner_id: int, body: ConfusionMatrixCreate
) -> ConfusionMatrixRecord:
    """Count the vectors (or take the matrix), compute PyCM's statistics, store it all."""
    return store_counted(session, ev, owner_id, _count(body, ev.settings), body.name)


def create_from_int_arrays(
    session: Session,
    ev: Evaluation,
    owner_id: int,
    actual: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
) -> ConfusionMatrixRecord:
    """``create`` for integer vectors already read into arrays (``json_labels``)."""
    settings = ev.settings
    counted = count_int_arrays(
        actual,
        predicted,
        max_length=settings.max_vector_length,
        max_classes=settings.max_classes,
        max_label_length=settings.max_label_length,
    )
    return store_counted(session, ev, owner_id, counted, None)


# Up to this many labels (or matrix cells), counting and the headline take a few tens of
# microseconds: less than a trip to a worker thread, so they run where the request is.
SMALL_INPUT = 1024


def is_small(body: ConfusionMatrixCreate) -> bool:
    """True when ``create_grouped`` may count ``body`` on the event loop."""
    # Weighted (fractional) counts need all of PyCM's statistics: milliseconds, not for the loop.
    if body.sample_weight is not None:
        return False
    if body.matrix is not None:
        cells = [value for row in body.matrix for value in row]
        return len(cells) <= SMALL_INPUT and all(type(value) is int for value in cells)
    return (
        body.actual is not None
        and body.predicted is not None
        and len(body.actual) <= SMALL_INPUT
        and len(body.predicted) <= SMALL_INPUT
        and (body.classes is None or len(body.classes) <= SMALL_INPUT)
    )


async def create_grouped(
    writer: GroupCommit, ev: Evaluation, owner_id: int, body: ConfusionMatrixCreate
) -> repository.NewRow:
    """``create`` for a small body (``is_small``), stored through the group commit.

    Counted where it is called (no worker thread: it is small); returns once the row is
    committed, with the columns stored (no ORM object, no session).
    """
    computed = _compute(_count(body, ev.settings))
    now = utcnow()
    row = repository.NewRow(
        uid=new_uid(),
        owner_id=owner_id,
        name=body.name,
        label_kind=computed.kind,
        classes=computed.classes,
        matrix=computed.rows,
        headline=computed.headline,
        created_at=now,
        updated_at=now,
    )
    await repository.add_grouped(writer, row)
    return row


def get(session: Session, uid: str, owner_id: int) -> ConfusionMatrixRecord:
    """The owner's matrix; another user's is as good as missing."""
    record = repository.get_by_uid(session, uid)
    if record is None or record.owner_id != owner_id:
        raise ConfusionMatrixNotFound(details={"uid": uid})
    return record


def _forget_files(session: Session, ev: Evaluation, keys: Sequence[str | None]) -> None:
    for key in keys:
        if key is not None:
            after_commit(session, partial(ev.artifacts.delete, key))


def replace(
    session: Session, ev: Evaluation, uid: str, owner_id: int, body: ConfusionMatrixCreate
) -> ConfusionMatrixRecord:
    """Replace the matrix's data; its report and plot are drawn again when next asked for."""
    record = get(session, uid, owner_id)
    computed = _compute(_count(body, ev.settings))
    session.refresh(record, with_for_update=True)
    old_keys = [record.obj_key, record.report_key, record.plot_key]
    record.label_kind = computed.kind
    record.classes = computed.classes
    record.matrix = computed.rows
    record.headline = computed.headline
    record.obj_key = None
    record.report_key = None
    record.plot_key = None
    # Incremented in SQL, so two updates at once cannot both write the same version.
    record.version = ConfusionMatrixRecord.version + 1
    if body.name is not None:
        record.name = body.name
    session.flush()
    session.refresh(record)
    _forget_files(session, ev, old_keys)
    return record


def rename(session: Session, uid: str, owner_id: int, name: str | None) -> ConfusionMatrixRecord:
    record = get(session, uid, owner_id)
    record.name = name
    session.flush()
    return record


def delete(session: Session, ev: Evaluation, uid: str, owner_id: int) -> None:
    """Remove the row, then (once committed) its .obj, report and plot files."""
    record = get(session, uid, owner_id)
    keys = [record.obj_key, record.report_key, record.plot_key]
    repository.delete(session, record)
    _forget_files(session, ev, keys)


def summary(record: ConfusionMatrixRecord | repository.NewRow) -> ConfusionMatrixSummary:
    return ConfusionMatrixSummary(
        uid=record.uid,
        name=record.name,
        classes=record.classes,
        created_at=record.created_at,
        updated_at=record.updated_at,
        **record.headline,
    )


def _pycm(record: ConfusionMatrixRecord | repository.NewRow) -> pycm.ConfusionMatrix:
    return pycm_adapter.build_matrix(record.classes, np.array(record.matrix))


def read(
    record: ConfusionMatrixRecord | repository.NewRow, *, statistics: bool = False
) -> ConfusionMatrixRead:
    """The headline and the matrix; with ``statistics``, every statistic PyCM has."""
    stats = None
    if statistics:
        overall, per_class = pycm_adapter.statistics(_pycm(record))
        stats = MatrixStats(overall=overall, per_class=per_class)
    return ConfusionMatrixRead(
        **summary(record).model_dump(), matrix=record.matrix, statistics=stats
    )


def list_mine(
    session: Session, owner_id: int, *, limit: int, offset: int
) -> Page[ConfusionMatrixSummary]:
    records = repository.list_for_owner(session, owner_id, limit=limit, offset=offset)
    return Page[ConfusionMatrixSummary](
        items=[summary(r) for r in records],
        total=repository.count_for_owner(session, owner_id),
        limit=limit,
        offset=offset,
    )


def list_all(session: Session, *, limit: int, offset: int) -> Sequence[ConfusionMatrixRecord]:
    """Every user's matrices, oldest first (admins)."""
    return repository.list_all(session, limit=limit, offset=offset)


def uids_by_owner(session: Session, owner_ids: Sequence[int]) -> dict[int, list[str]]:
    return repository.uids_by_owner(session, owner_ids)


_NAMESPACES = {
    "obj_key": "evaluation/matrices",
    "report_key": "evaluation/reports",
    "plot_key": "evaluation/plots",
}


def _cached(
    session: Session,
    ev: Evaluation,
    record: ConfusionMatrixRecord,
    column: str,
    suffix: str,
    render: partial[bytes],
) -> bytes:
    key: str | None = getattr(record, column)
    if key is not None:
        try:
            return ev.artifacts.get_bytes(key)
        except ArtifactNotFound:
            pass  # lost from the store: draw it again below
    data = render()
    new_key = ev.artifacts.new_key(_NAMESPACES[column], suffix)
    ev.artifacts.put_bytes(new_key, data)
    if not repository.set_cached_key(session, record.id, record.version, column, new_key):
        # The matrix changed or another request cached its own copy first; ours is not kept.
        ev.artifacts.delete(new_key)
    return data


def _render_report(record: ConfusionMatrixRecord) -> bytes:
    return pycm_adapter.report_html(_pycm(record)).encode()


def report(session: Session, ev: Evaluation, uid: str, owner_id: int) -> bytes:
    """PyCM's HTML report (labels escaped), drawn once per version of the matrix."""
    record = get(session, uid, owner_id)
    return _cached(session, ev, record, "report_key", ".html", partial(_render_report, record))


def _render_plot(
    record: ConfusionMatrixRecord, ev: Evaluation, normalized: bool, color_map: str
) -> bytes:
    return plots.matrix_png(
        [str(c) for c in record.classes],
        np.array(record.matrix),
        normalized=normalized,
        color_map=color_map,
        title=record.name or "Confusion matrix",
        max_annotations=ev.settings.max_plot_annotations,
    )


def plot(
    session: Session,
    ev: Evaluation,
    uid: str,
    owner_id: int,
    *,
    normalized: bool = False,
    color_map: str = DEFAULT_COLOR_MAP,
) -> bytes:
    """A PNG of the matrix; the default look is drawn once per version and kept."""
    if color_map not in plots.COLOR_MAPS:
        raise InvalidEvaluationInput(
            f"unknown colour map {color_map!r}", details={"choices": list(plots.COLOR_MAPS)}
        )
    record = get(session, uid, owner_id)
    render = partial(_render_plot, record, ev, normalized, color_map)
    if normalized or color_map != DEFAULT_COLOR_MAP:
        return render()
    return _cached(session, ev, record, "plot_key", ".png", render)


def _render_obj(record: ConfusionMatrixRecord) -> bytes:
    return pycm_adapter.obj_bytes(record.classes, record.matrix)


def matrix_obj(session: Session, ev: Evaluation, uid: str, owner_id: int) -> bytes:
    """PyCM's .obj document of the matrix, kept once written."""
    record = get(session, uid, owner_id)
    return _cached(session, ev, record, "obj_key", ".obj", partial(_render_obj, record))


def matrix_csv(session: Session, uid: str, owner_id: int) -> str:
    """PyCM's per-class statistics as CSV."""
    return pycm_adapter.statistics_csv(_pycm(get(session, uid, owner_id)))


def compare(
    session: Session,
    settings: EvaluationSettings,
    owner_id: int,
    uids: Sequence[str],
    *,
    class_weight: dict[str, float] | None = None,
    class_benchmark_weight: dict[str, float] | None = None,
    overall_benchmark_weight: dict[str, float] | None = None,
    by_name: bool = False,
) -> CompareResult:
    """PyCM's Compare over the owner's matrices, keyed by uid, or with ``by_name`` by each
    matrix's name (its uid when it has none or shares it with another compared matrix)."""
    unique = list(dict.fromkeys(uids))
    if len(unique) > settings.max_compare:
        raise LimitExceeded(f"compare takes at most {settings.max_compare} matrices")
    if len(unique) < 2:
        raise InvalidEvaluationInput("compare needs at least two different matrices")
    found = {
        r.uid: r for r in repository.get_many_by_uid(session, unique) if r.owner_id == owner_id
    }
    missing = [uid for uid in unique if uid not in found]
    if missing:
        raise ConfusionMatrixNotFound(details={"missing": missing})
    records = [found[uid] for uid in unique]
    first = records[0]
    for record in records[1:]:
        if set(map(str, record.classes)) != set(map(str, first.classes)):
            raise InvalidEvaluationInput(
                "the matrices have different classes", details={"uids": [first.uid, record.uid]}
            )
        if not np.isclose(np.sum(record.matrix), np.sum(first.matrix)):
            raise InvalidEvaluationInput(
                "the matrices count different populations",
                details={"uids": [first.uid, record.uid]},
            )
    keys = _compare_keys(records) if by_name else {record.uid: record.uid for record in records}
    result = pycm_adapter.compare(
        {keys[record.uid]: _pycm(record) for record in records},
        class_weight=class_weight,
        class_benchmark_weight=class_benchmark_weight,
        overall_benchmark_weight=overall_benchmark_weight,
    )
    uid_of = {key: uid for uid, key in keys.items()}
    return CompareResult(
        uids=unique,
        names=keys,
        scores=result.scores,
        order=result.order,
        best_name=result.best_name,
        best_uid=uid_of.get(result.best_name) if result.best_name is not None else None,
    )


def _compare_keys(records: Sequence[ConfusionMatrixRecord]) -> dict[str, str]:
    """Each matrix's key in a compare by name: its name, unless it has none or another of the
    compared matrices has it too (or it is another matrix's uid); then its uid."""
    named = Counter(record.name for record in records if record.name)
    uids = {record.uid for record in records}
    return {
        record.uid: record.name
        if record.name and named[record.name] == 1 and record.name not in uids
        else record.uid
        for record in records
    }
