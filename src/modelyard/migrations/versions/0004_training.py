"""training: datasets, experiments and training runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:27:42.526320
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("artifact_key", sa.String(length=512), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("label_counts", sa.JSON(), nullable=False),
        sa.Column("label_bytes", sa.JSON(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_training_datasets_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_datasets")),
    )
    with op.batch_alter_table("training_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_datasets_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "training_experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("mlflow_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_training_experiments_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_training_experiments_name")),
    )
    with op.batch_alter_table("training_experiments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_experiments_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "training_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("trainer", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["training_datasets.id"],
            name=op.f("fk_training_runs_dataset_id_training_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["training_experiments.id"],
            name=op.f("fk_training_runs_experiment_id_training_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_training_runs_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_training_runs")),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_runs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_training_runs_experiment_id"), ["experiment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_training_runs_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_runs_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_runs_owner_id"))
        batch_op.drop_index(batch_op.f("ix_training_runs_job_id"))
        batch_op.drop_index(batch_op.f("ix_training_runs_experiment_id"))
        batch_op.drop_index(batch_op.f("ix_training_runs_created_at"))

    op.drop_table("training_runs")
    with op.batch_alter_table("training_experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_experiments_owner_id"))

    op.drop_table("training_experiments")
    with op.batch_alter_table("training_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_datasets_owner_id"))

    op.drop_table("training_datasets")
