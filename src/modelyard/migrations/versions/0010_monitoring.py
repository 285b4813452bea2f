"""monitoring: feedback labels, performance windows, monitors and webhook deliveries

Revision ID: 0010_monitoring
Revises: 0009_model_workers
Create Date: 2026-12-06 11:36:06.683940
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.db

revision: str = "0010_monitoring"
down_revision: str | None = "0009_model_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("check", sa.JSON(), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("min_samples", sa.Integer(), nullable=False),
        sa.Column("quiet_seconds", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=128), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("next_run_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", modelyard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", modelyard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_window", modelyard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_monitors_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_monitors_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
    )
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitors_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitors_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitors_version_id"), ["version_id"], unique=False)

    op.create_table(
        "performance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("start", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("matrix_uid", sa.String(length=64), nullable=True),
        sa.Column("labelled", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("labels_seen", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("computed_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_performance_windows_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_windows")),
        sa.UniqueConstraint(
            "version_id", "window", "start", name=op.f("uq_performance_windows_version_id")
        ),
    )
    with op.batch_alter_table("performance_windows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_performance_windows_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "feedback_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("label_index", sa.Integer(), nullable=False),
        sa.Column("predicted_index", sa.Integer(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("predicted_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["prediction_logs.id"],
            name=op.f("fk_feedback_labels_log_id_prediction_logs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_feedback_labels_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_feedback_labels_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_labels")),
        sa.UniqueConstraint("log_id", "row_index", name=op.f("uq_feedback_labels_log_id")),
    )
    with op.batch_alter_table("feedback_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_labels_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_feedback_labels_updated_at"), ["updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_feedback_labels_version_id_predicted_at",
            ["version_id", "predicted_at"],
            unique=False,
        )

    op.create_table(
        "monitor_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("window_start", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_evaluations_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_evaluations")),
        sa.UniqueConstraint(
            "monitor_id", "window_start", name=op.f("uq_monitor_evaluations_monitor_id")
        ),
    )
    with op.batch_alter_table("monitor_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_evaluations_monitor_id"), ["monitor_id"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["monitor_evaluations.id"],
            name=op.f("fk_webhook_deliveries_evaluation_id_monitor_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_webhook_deliveries_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_monitor_id"), ["monitor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_monitor_id"))

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("monitor_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_evaluations_monitor_id"))

    op.drop_table("monitor_evaluations")
    with op.batch_alter_table("feedback_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_labels_version_id_predicted_at")
        batch_op.drop_index(batch_op.f("ix_feedback_labels_updated_at"))
        batch_op.drop_index(batch_op.f("ix_feedback_labels_model_id"))

    op.drop_table("feedback_labels")
    with op.batch_alter_table("performance_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_performance_windows_version_id"))

    op.drop_table("performance_windows")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitors_version_id"))
        batch_op.drop_index(batch_op.f("ix_monitors_owner_id"))
        batch_op.drop_index(batch_op.f("ix_monitors_next_run_at"))

    op.drop_table("monitors")
