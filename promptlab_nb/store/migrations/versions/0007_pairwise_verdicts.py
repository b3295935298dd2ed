"""Pairwise judges' verdicts between the runs of two variants on one row, asked in both orders.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pairwise_verdict",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("variant_a_id", sa.String(26), nullable=False),
        sa.Column("variant_b_id", sa.String(26), nullable=False),
        sa.Column("run_a_id", sa.String(26), nullable=False),
        sa.Column("run_b_id", sa.String(26), nullable=False),
        sa.Column("a_first", sa.String(10)),
        sa.Column("b_first", sa.String(10)),
        sa.Column("winner_run_id", sa.String(26)),
        sa.Column("reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("cost", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pairwise_verdict"),
    )
    op.create_index("ix_pairwise_verdict_experiment_id_judge", "pairwise_verdict", ["experiment_id", "judge"])
