"""Indexes for the views computed in the store, on PostgreSQL: a page of the comparison grid or of a
report reads the runs of its rows by experiment and row index, and a template's scores and the search
for a default baseline find the variants that ran a template by its name (and kind).

A DuckDB store gets neither: its planner reads an ART index only for an equality on one column, so it
would never read these two (it skips a page's runs by the row groups' minimum and maximum instead),
and the one on runs would still add about 40 MB a million runs to the file.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_run_experiment_id_row_index", "run", ["experiment_id", "row_index"]),
    ("ix_variant_target_name_kind", "variant", ["target_name", "kind"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
