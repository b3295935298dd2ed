"""Labels that point at template and pipeline versions (with the history of their moves), API tokens
for applications, and people's preferences between two outputs of the same row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _create_labels()
    _create_label_moves()
    _create_api_tokens()
    _create_preferences()


def _create_labels() -> None:
    op.create_table(
        "definition_label",
        sa.Column("id", sa.String(26)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("definition_id", sa.String(26), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_definition_label"),
        sa.UniqueConstraint("kind", "definition_id", "label", name="uq_definition_label_kind_definition_id_label"),
    )


def _create_label_moves() -> None:
    op.create_table(
        "label_move",
        sa.Column("id", sa.String(26)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("definition_id", sa.String(26), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.Integer()),
        sa.Column("moved_by", sa.String(200)),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_label_move"),
    )
    op.create_index("ix_label_move_kind_definition_id", "label_move", ["kind", "definition_id"])


def _create_api_tokens() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(26)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime()),
        sa.Column("revoked_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_token_hash"),
    )


def _create_preferences() -> None:
    op.create_table(
        "preference",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("left_run_id", sa.String(26), nullable=False),
        sa.Column("right_run_id", sa.String(26), nullable=False),
        sa.Column("preferred_run_id", sa.String(26)),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_preference"),
    )
    op.create_index("ix_preference_experiment_id", "preference", ["experiment_id"])
