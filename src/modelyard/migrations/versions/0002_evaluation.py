"""evaluation: confusion matrices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "confusion_matrices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("label_kind", sa.String(length=8), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("matrix", sa.JSON(), nullable=False),
        sa.Column("headline", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("obj_key", sa.String(length=512), nullable=True),
        sa.Column("report_key", sa.String(length=512), nullable=True),
        sa.Column("plot_key", sa.String(length=512), nullable=True),
        sa.Column("created_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", modelyard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_confusion_matrices_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confusion_matrices")),
        sa.UniqueConstraint("uid", name=op.f("uq_confusion_matrices_uid")),
    )
    with op.batch_alter_table("confusion_matrices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_confusion_matrices_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_confusion_matrices_owner_id"), ["owner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("confusion_matrices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_confusion_matrices_owner_id"))
        batch_op.drop_index(batch_op.f("ix_confusion_matrices_created_at"))
    op.drop_table("confusion_matrices")
