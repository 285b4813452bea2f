"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from modelyard.auth.models import ApiKey, User
from modelyard.db import Base
from modelyard.evaluation.models import ConfusionMatrixRecord
from modelyard.jobs.models import Job
from modelyard.kv import EphemeralValue
from modelyard.monitoring.models import (
    FeedbackLabel,
    Monitor,
    MonitorEvaluation,
    PerformanceWindow,
    WebhookDelivery,
)
from modelyard.registry.models import ModelAlias, ModelVersion, RegisteredModel
from modelyard.serving.models import PredictionLog
from modelyard.training.models import Dataset, Experiment, TrainingRun
from modelyard.visualization.models import Projection, ProjectionConfig

__all__ = [
    "ApiKey",
    "Base",
    "ConfusionMatrixRecord",
    "Dataset",
    "EphemeralValue",
    "Experiment",
    "FeedbackLabel",
    "Job",
    "ModelAlias",
    "ModelVersion",
    "Monitor",
    "MonitorEvaluation",
    "PerformanceWindow",
    "PredictionLog",
    "Projection",
    "ProjectionConfig",
    "RegisteredModel",
    "TrainingRun",
    "User",
    "WebhookDelivery",
]
