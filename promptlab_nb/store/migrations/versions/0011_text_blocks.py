"""Text blocks: the trigrams the texts of each block of an experiment's data rows hold, so that a search
reads only the blocks that can hold its text. An experiment is listed in ``indexed_texts`` once its texts
are; one stored before is not (its searches read every text) until ``lab.vacuum()`` indexes it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_block",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("grams", sa.LargeBinary(), nullable=False),
        sa.Column("four_grams", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_text_block"),
    )
    op.create_index("ix_text_block_experiment_id_kind_block", "text_block", ["experiment_id", "kind", "block"])
    op.create_table(
        "indexed_texts",
        sa.Column("experiment_id", sa.String(26)),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_indexed_texts"),
    )
