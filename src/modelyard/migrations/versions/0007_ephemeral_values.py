"""kv: short-lived values shared by the server processes of one machine (--workers N)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ephemeral_values",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("blob", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ephemeral_values")),
    )
    op.create_index(
        op.f("ix_ephemeral_values_expires_at"), "ephemeral_values", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ephemeral_values_expires_at"), table_name="ephemeral_values")
    op.drop_table("ephemeral_values")
