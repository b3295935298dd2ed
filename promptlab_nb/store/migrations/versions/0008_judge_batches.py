"""Judge batches: a provider batch may carry a judge's requests instead of runs; ``judging`` says
which judge and what it judges.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEX = "ix_provider_batch_experiment_id"


def upgrade() -> None:
    # DuckDB alters no table that an index depends on: the index is made again after.
    op.drop_index(INDEX, table_name="provider_batch")
    op.add_column("provider_batch", sa.Column("judging", sa.Text(), nullable=True))
    op.create_index(INDEX, "provider_batch", ["experiment_id"])
