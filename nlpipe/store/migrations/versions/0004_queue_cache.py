"""labeling queue cache (per-document scores by dataset, strategy, model version and annotator)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_caches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("annotator", sa.String(length=200), nullable=False),
        sa.Column("stamp", sa.String(length=200), nullable=False),
        sa.Column("members_seen", sa.Integer(), nullable=False),
        sa.Column("members_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "strategy", "model", "version", "annotator"),
    )
    op.create_table(
        "queue_scores",
        sa.Column("cache_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["cache_id"], ["queue_caches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cache_id", "document_id"),
    )
    with op.batch_alter_table("queue_scores", schema=None) as batch_op:
        batch_op.create_index("ix_queue_scores_order", ["cache_id", "rank", "document_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queue_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_scores_order")
    op.drop_table("queue_scores")
    op.drop_table("queue_caches")
