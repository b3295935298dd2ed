"""Template examples: the example variables a template version comes with (a Prompty file's defaults
and sample), kept with the version and written back on export.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("template_version", sa.Column("examples", sa.Text(), nullable=True))
