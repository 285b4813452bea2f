"""registry: where a version's file came from, its worker crashes and its quarantine

Revision ID: 0009_model_workers
Revises: 0008_job_heartbeats
Create Date: 2026-12-06 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from modelyard.db import UTCDateTime

revision: str = "0009_model_workers"
down_revision: str | None = "0008_job_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        # Versions registered before this revision run in workers: their origin is unknown.
        batch.add_column(
            sa.Column("origin", sa.String(length=16), server_default="upload", nullable=False)
        )
        batch.add_column(sa.Column("crash_times", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("quarantined_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("quarantine_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("quarantine_reason")
        batch.drop_column("quarantined_at")
        batch.drop_column("crash_times")
        batch.drop_column("origin")
