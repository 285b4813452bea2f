"""Every query of the training domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelyard.training.models import Dataset, Experiment, TrainingRun

__all__ = [
    "add",
    "count_datasets",
    "delete_experiment",
    "experiment_by_mlflow_id",
    "experiment_by_name",
    "experiments_of",
    "get_dataset",
    "get_experiment",
    "get_run",
    "list_datasets",
    "runs_of_experiment",
]


def add(session: Session, item: Dataset | Experiment | TrainingRun) -> None:
    session.add(item)
    session.flush()


def get_dataset(session: Session, dataset_id: int) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def list_datasets(session: Session, owner_id: int, *, limit: int, offset: int) -> Sequence[Dataset]:
    query = (
        select(Dataset)
        .where(Dataset.owner_id == owner_id)
        .order_by(Dataset.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(query).all()


def count_datasets(session: Session, owner_id: int) -> int:
    query = select(func.count()).select_from(Dataset).where(Dataset.owner_id == owner_id)
    return int(session.scalar(query) or 0)


def experiment_by_name(session: Session, name: str) -> Experiment | None:
    return session.scalar(select(Experiment).where(Experiment.name == name))


def experiment_by_mlflow_id(session: Session, mlflow_id: str) -> Experiment | None:
    return session.scalar(select(Experiment).where(Experiment.mlflow_id == mlflow_id))


def get_experiment(session: Session, experiment_id: int) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def experiments_of(session: Session, owner_id: int | None) -> Sequence[Experiment]:
    query = select(Experiment).order_by(Experiment.id)
    if owner_id is not None:
        query = query.where(Experiment.owner_id == owner_id)
    return session.scalars(query).all()


def get_run(session: Session, run_id: str) -> TrainingRun | None:
    return session.get(TrainingRun, run_id)


def runs_of_experiment(session: Session, experiment_id: int) -> Sequence[TrainingRun]:
    query = select(TrainingRun).where(TrainingRun.experiment_id == experiment_id)
    return session.scalars(query).all()


def delete_experiment(session: Session, experiment: Experiment) -> None:
    session.execute(delete(TrainingRun).where(TrainingRun.experiment_id == experiment.id))
    session.delete(experiment)
    session.flush()


def owner_file_keys(session: Session, owner_id: int) -> list[str]:
    """The stored files of the owner's datasets."""
    query = select(Dataset.artifact_key).where(Dataset.owner_id == owner_id)
    return [key for key in session.scalars(query) if key]
