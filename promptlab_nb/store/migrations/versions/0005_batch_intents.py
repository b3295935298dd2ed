"""Batch intents: a provider batch is recorded before it is submitted, without the provider's id yet.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ix_provider_batch_experiment_id"


def upgrade() -> None:
    # DuckDB alters no column of a table that an index depends on: the index is made again after.
    op.drop_index(INDEX, table_name="provider_batch")
    op.alter_column("provider_batch", "provider_batch_id", existing_type=sa.String(200), nullable=True)
    op.create_index(INDEX, "provider_batch", ["experiment_id"])
