"""Errors of the training domain."""

from __future__ import annotations

from modelyard.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)

__all__ = [
    "DatasetNotFound",
    "ExperimentAlreadyDeleted",
    "ExperimentNameTaken",
    "ExperimentNotDeleted",
    "ExperimentNotFound",
    "InvalidDataset",
    "NotEnoughDocuments",
    "RunAlreadyDeleted",
    "RunNotDeleted",
    "RunNotFinished",
    "RunNotFound",
    "TrackingFailed",
    "TrainerNotAvailable",
    "TrainingError",
    "UploadTooLarge",
]


class TrainingError(ModelyardError):
    """Root of the training domain's client-facing errors."""


class InvalidDataset(TrainingError, BadRequest):
    code = "invalid_dataset"
    message = "The dataset cannot be used"


class UploadTooLarge(TrainingError, PayloadTooLarge):
    code = "dataset_too_large"
    message = "The archive is too large"


class NotEnoughDocuments(TrainingError, InvalidInput):
    code = "not_enough_documents"
    message = "The dataset does not have enough documents to train"


class DatasetNotFound(TrainingError, NotFound):
    code = "dataset_not_found"
    message = "Dataset not found"


class ExperimentNotFound(TrainingError, NotFound):
    code = "experiment_not_found"
    message = "Experiment not found"


class ExperimentNameTaken(TrainingError, Conflict):
    code = "experiment_name_taken"
    message = "Another user's experiment has this name"


class ExperimentAlreadyDeleted(TrainingError, Conflict):
    code = "experiment_deleted"
    message = "The experiment is already deleted"


class ExperimentNotDeleted(TrainingError, Conflict):
    code = "experiment_not_deleted"
    message = "The experiment is not deleted"


class RunNotFound(TrainingError, NotFound):
    code = "run_not_found"
    message = "Run not found"


class RunAlreadyDeleted(RunNotFound):
    """A soft-deleted run: not found for the native API, told apart for Custom Classifier's."""

    message = "The run is already deleted"


class RunNotDeleted(TrainingError, Conflict):
    code = "run_not_deleted"
    message = "The run is not deleted"


class RunNotFinished(TrainingError, Conflict):
    code = "run_not_finished"
    message = "The run has no finished model yet"


class TrainerNotAvailable(TrainingError, InvalidInput):
    code = "trainer_not_available"
    message = "This trainer is not available on this server"


class TrackingFailed(TrainingError, ServiceUnavailable):
    code = "tracking_failed"
    message = "The MLflow tracking store failed"
