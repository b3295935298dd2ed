"""Experiment claims: the session running an experiment, and its heartbeat, so no two run it at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("claimed_by", sa.String(200)),
    ("claim_token", sa.String(26)),
    ("claim_host", sa.String(200)),
    ("claim_pid", sa.Integer()),
    ("heartbeat_at", sa.DateTime()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("experiment", sa.Column(name, type_))
