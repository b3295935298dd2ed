"""Provider batches: experiments run through the OpenAI, Anthropic or mock batch APIs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_batch",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider_batch_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("custom_ids", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("collected_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_provider_batch"),
        sa.UniqueConstraint("provider", "provider_batch_id", name="uq_provider_batch_provider_provider_batch_id"),
    )
    op.create_index("ix_provider_batch_experiment_id", "provider_batch", ["experiment_id"])
