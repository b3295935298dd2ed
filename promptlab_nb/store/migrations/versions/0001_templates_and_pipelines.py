"""Versioned templates and pipelines.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _named_entity(table: str) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("name", name=f"uq_{table}_name"),
    )


def upgrade() -> None:
    _named_entity("template")
    op.create_table(
        "template_version",
        sa.Column("id", sa.String(26)),
        sa.Column("template_id", sa.String(26), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("params", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_template_version"),
        sa.ForeignKeyConstraint(["template_id"], ["template.id"], name="fk_template_version_template_id_template"),
        sa.UniqueConstraint("template_id", "version", name="uq_template_version_template_id_version"),
    )
    op.create_index("ix_template_version_template_id", "template_version", ["template_id"])
    _named_entity("pipeline")
    op.create_table(
        "pipeline_version",
        sa.Column("id", sa.String(26)),
        sa.Column("pipeline_id", sa.String(26), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_version"),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipeline.id"], name="fk_pipeline_version_pipeline_id_pipeline"),
        sa.UniqueConstraint("pipeline_id", "version", name="uq_pipeline_version_pipeline_id_version"),
    )
    op.create_index("ix_pipeline_version_pipeline_id", "pipeline_version", ["pipeline_id"])


def downgrade() -> None:
    op.drop_table("pipeline_version")
    op.drop_table("pipeline")
    op.drop_table("template_version")
    op.drop_table("template")
