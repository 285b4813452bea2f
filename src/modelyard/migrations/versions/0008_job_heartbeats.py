"""jobs: heartbeat_at and runner, so a job whose worker died can be told from one still running

Revision ID: 0008_job_heartbeats
Revises: 0007
Create Date: 2026-12-06 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.db

revision: str = "0008_job_heartbeats"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("heartbeat_at", modelyard.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("runner", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("runner")
        batch.drop_column("heartbeat_at")
