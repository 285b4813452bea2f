"""Drift per window of a version's logged inputs against a reference, feature by feature.

The reference is the version's training sample (the CSV registered with it) by default, or
the logged rows of a window (``reference_start``). Features come from the input schema:
``str`` and ``bool`` columns are categorical, the others numeric. Besides the features, the
answered classes (prediction drift) and the highest probability of each row (confidence
drift) are compared with the reference window's; the training sample has no answers, so
with it they are left out.
"""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.monitoring import drift
from modelyard.monitoring.classes import ClassIndex
from modelyard.monitoring.exceptions import NoReference
from modelyard.monitoring.frames import Logged, read_logged
from modelyard.monitoring.schemas import DriftRead, DriftWindow, FeatureDrift
from modelyard.monitoring.windows import WINDOW_SECONDS, from_epoch, window_starts
from modelyard.registry import service as registry
from modelyard.registry.schemas import ServingTarget
from modelyard.storage import ArtifactStore

__all__ = [
    "drift_of",
    "drift_over_time",
    "feature_distribution",
    "feature_kinds",
    "sample_columns",
]

_CATEGORICAL = frozenset({"str", "bool"})


def feature_kinds(target: ServingTarget) -> dict[str, drift.Kind]:
    if not target.input_schema:
        raise NoReference(
            f"model {target.model_name!r} version {target.version} has no input schema, so its "
            "inputs cannot be read as features"
        )
    return {c.name: ("cat" if c.type in _CATEGORICAL else "num") for c in target.input_schema}


def sample_columns(sample: bytes, names: list[str], max_rows: int) -> npt.NDArray[Any]:
    """The training sample's columns ``names`` as a rows x features object matrix."""
    try:
        reader = csv.reader(io.StringIO(sample.decode("utf-8-sig")))
        header = next(reader, [])
        where = [header.index(n) if n in header else -1 for n in names]
        rows = []
        for record in reader:
            if not record:
                continue
            rows.append([record[i] if 0 <= i < len(record) else None for i in where])
            if len(rows) >= max_rows:
                break
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NoReference(f"the training sample cannot be read: {exc}") from exc
    if any(i < 0 for i in where):
        missing = [n for n, i in zip(names, where, strict=True) if i < 0]
        raise NoReference(f"the training sample lacks the columns {missing}")
    return np.array(rows, dtype=object).reshape(-1, len(names))


def _column(values: npt.NDArray[Any], kind: drift.Kind) -> npt.NDArray[Any]:
    if kind == "cat":
        return values
    if values.dtype == np.float64:
        return values
    numbers = np.full(len(values), np.nan)
    for index, value in enumerate(values):
        with contextlib.suppress(TypeError, ValueError):
            numbers[index] = float(value) if value is not None and value != "" else np.nan
    return numbers


def _feature(name: str, kind: drift.Kind, result: drift.FeatureResult) -> FeatureDrift:
    return FeatureDrift(
        feature=name,
        kind=kind,
        stattest=result.stattest,
        statistic=result.statistic,
        threshold=result.threshold,
        drifted=result.drifted,
        psi=result.psi,
        reference_rows=result.reference_rows,
        current_rows=result.current_rows,
    )


def drift_over_time(
    session: Session,
    artifacts: ArtifactStore,
    settings: MonitoringSettings,
    caller: User,
    name: str,
    ref: str,
    *,
    window: str,
    since: datetime | None,
    until: datetime | None,
    reference_start: datetime | None,
    thresholds: dict[str, float],
    drift_share: float,
    owner_id: int | None,
) -> DriftRead:
    """Each window's drift against the reference (see the module)."""
    target = registry.serving_target(session, caller, name, ref, owner_id)
    return drift_of(
        session,
        artifacts,
        settings,
        target,
        window=window,
        since=since,
        until=until,
        reference_start=reference_start,
        thresholds=thresholds,
        drift_share=drift_share,
    )


def drift_of(
    session: Session,
    artifacts: ArtifactStore,
    settings: MonitoringSettings,
    target: ServingTarget,
    *,
    window: str,
    since: datetime | None,
    until: datetime | None,
    reference_start: datetime | None,
    thresholds: dict[str, float],
    drift_share: float,
) -> DriftRead:
    """``drift_over_time`` of a version already resolved (a monitor's job)."""
    name = target.model_name
    kinds = feature_kinds(target)
    names = list(kinds)
    classes = ClassIndex(target.classes or [])
    size = WINDOW_SECONDS[window]
    reference_logged: Logged | None = None
    if reference_start is not None:
        begin = from_epoch(
            int(window_starts(np.array([int(reference_start.timestamp())]), window)[0])
        )
        reference_logged = read_logged(
            session,
            target.model_id,
            target.version,
            names,
            classes,
            begin,
            from_epoch(int(begin.timestamp()) + size),
            max_rows=settings.max_window_rows,
        )
        if not len(reference_logged):
            raise NoReference(f"the reference window from {begin.isoformat()} has no logged rows")
        reference = reference_logged.inputs
        described = f"window:{begin.isoformat()}"
    else:
        if target.sample_key is None:
            raise NoReference(
                f"model {name!r} version {target.version} has no training sample: register one, "
                "or compare with a window (reference_start)"
            )
        reference = sample_columns(
            artifacts.get_bytes(target.sample_key), names, settings.reference_rows
        )
        described = "training_sample"
    reference_columns = [_column(reference[:, i], kinds[n]) for i, n in enumerate(names)]
    current = read_logged(
        session,
        target.model_id,
        target.version,
        names,
        classes,
        since,
        until,
        max_rows=settings.max_window_rows,
    )
    starts = window_starts(current.times, window)
    windows: list[DriftWindow] = []
    for start in np.unique(starts).tolist():
        rows = starts == start
        features = [
            _feature(
                n,
                kinds[n],
                drift.compare(
                    reference_columns[i],
                    _column(current.inputs[rows, i], kinds[n]),
                    kinds[n],
                    thresholds,
                ),
            )
            for i, n in enumerate(names)
        ]
        tested = [f for f in features if f.stattest != "none"]
        share = sum(f.drifted for f in tested) / len(tested) if tested else 0.0
        prediction = confidence = None
        if reference_logged is not None:
            prediction = _feature(
                "prediction",
                "cat",
                drift.compare(
                    reference_logged.predicted.astype(str),
                    current.predicted[rows].astype(str),
                    "cat",
                    thresholds,
                ),
            )
            confidence = _feature(
                "confidence",
                "num",
                drift.compare(
                    _top(reference_logged.probabilities),
                    _top(current.probabilities[rows]),
                    "num",
                    thresholds,
                ),
            )
        windows.append(
            DriftWindow(
                start=from_epoch(start),
                end=from_epoch(start + size),
                rows=int(rows.sum()),
                drift_share=share,
                dataset_drift=bool(tested) and share >= drift_share,
                features=features,
                prediction=prediction,
                confidence=confidence,
            )
        )
    return DriftRead(
        model=target.model_name,
        version=target.version,
        window=window,
        reference=described,
        reference_rows=len(reference),
        drift_share_threshold=drift_share,
        windows=windows,
    )


def _top(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if probabilities.shape[1] == 0:
        return np.empty(0)
    return np.asarray(np.max(probabilities, axis=1), dtype=np.float64)


def feature_distribution(
    session: Session,
    artifacts: ArtifactStore,
    settings: MonitoringSettings,
    caller: User,
    name: str,
    ref: str,
    *,
    feature: str,
    start: datetime,
    window: str,
    owner_id: int | None,
) -> tuple[list[str], list[float], list[float]] | None:
    """One feature's shares per bin in the training sample and in the window holding
    ``start`` (the bins drift's PSI uses); None without data."""
    target = registry.serving_target(session, caller, name, ref, owner_id)
    kinds = feature_kinds(target)
    if feature not in kinds or target.sample_key is None:
        return None
    kind = kinds[feature]
    reference = sample_columns(
        artifacts.get_bytes(target.sample_key), [feature], settings.reference_rows
    )
    size = WINDOW_SECONDS[window]
    begin = from_epoch(int(window_starts(np.array([int(start.timestamp())]), window)[0]))
    names = list(kinds)
    current = read_logged(
        session,
        target.model_id,
        target.version,
        names,
        ClassIndex(target.classes or []),
        begin,
        from_epoch(int(begin.timestamp()) + size),
        max_rows=settings.max_window_rows,
    )
    before = drift.present(_column(reference[:, 0], kind), kind)
    now = drift.present(_column(current.inputs[:, names.index(feature)], kind), kind)
    if not len(before) or not len(now):
        return None
    labels, ref_shares, cur_shares = drift.shares(before, now, kind)
    return labels, ref_shares.tolist(), cur_shares.tolist()
