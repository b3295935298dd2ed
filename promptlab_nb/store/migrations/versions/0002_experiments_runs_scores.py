"""Experiments, runs, pipeline steps, scores, ratings, the response cache and the SQL views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RUNS_VIEW = """
create view runs as
select r.id as run_id, e.name as experiment, v.label as variant, v.kind, v.target_name as target,
       v.target_version, v.model, v.params, r.row_index, r."repeat", r.status, r.output, r.error,
       r.failed_step, r.latency_ms, r.input_tokens, r.output_tokens, r.cost, r.cache_hit, r.mode,
       r.started_at, r.finished_at, er.inputs, r.experiment_id, r.variant_id
from run r
join experiment e on e.id = r.experiment_id
join variant v on v.id = r.variant_id
left join experiment_row er on er.experiment_id = r.experiment_id and er.row_index = r.row_index
"""

SCORES_VIEW = """
create view scores as
select s.run_id, e.name as experiment, v.label as variant, r.row_index, r."repeat", s.evaluator,
       s.value, s.passed, s.reason, s.error, s.created_at
from score s
join run r on r.id = s.run_id
join experiment e on e.id = s.experiment_id
join variant v on v.id = r.variant_id
"""

EXPERIMENTS_VIEW = """
create view experiments as
select e.name as experiment, e.status, e.mode, e.row_count, e."repeats",
       (select count(*) from variant v where v.experiment_id = e.id) as variants,
       (select count(*) from run r where r.experiment_id = e.id) as runs,
       (select count(*) from run r where r.experiment_id = e.id and r.status = 'error') as errors,
       (select sum(r.cost) from run r where r.experiment_id = e.id) as cost,
       e.created_at, e.updated_at, e.id as experiment_id
from experiment e
"""


def _measurements() -> list[sa.Column]:
    return [
        sa.Column("latency_ms", sa.Float()),
        sa.Column("input_tokens", sa.Integer()),
        sa.Column("output_tokens", sa.Integer()),
        sa.Column("cost", sa.Float()),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.String(26)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiment"),
        sa.UniqueConstraint("name", name="uq_experiment_name"),
    )
    op.create_table(
        "variant",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target_name", sa.String(200), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("target_version_id", sa.String(26), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("params", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_variant"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiment.id"], name="fk_variant_experiment_id_experiment"),
        sa.UniqueConstraint("experiment_id", "label", name="uq_variant_experiment_id_label"),
    )
    op.create_index("ix_variant_experiment_id", "variant", ["experiment_id"])
    op.create_table(
        "experiment_row",
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.Text()),
        sa.PrimaryKeyConstraint("experiment_id", "row_index", name="pk_experiment_row"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiment.id"], name="fk_experiment_row_experiment_id_experiment"
        ),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("variant_id", sa.String(26), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("messages", sa.Text()),
        sa.Column("output", sa.Text()),
        sa.Column("parsed", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("failed_step", sa.String(200)),
        *_measurements(),
        sa.Column("request_id", sa.String(200)),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_run"),
        sa.UniqueConstraint("variant_id", "row_index", "repeat", name="uq_run_variant_id_row_index_repeat"),
    )
    op.create_index("ix_run_experiment_id_status", "run", ["experiment_id", "status"])
    op.create_table(
        "run_step",
        sa.Column("id", sa.String(26)),
        sa.Column("run_id", sa.String(26), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("template", sa.String(220), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("messages", sa.Text()),
        sa.Column("output", sa.Text()),
        sa.Column("parsed", sa.Text()),
        sa.Column("error", sa.Text()),
        *_measurements(),
        sa.PrimaryKeyConstraint("id", name="pk_run_step"),
    )
    op.create_index("ix_run_step_run_id", "run_step", ["run_id"])
    op.create_table(
        "score",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("run_id", sa.String(26), nullable=False),
        sa.Column("evaluator", sa.String(200), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("passed", sa.Boolean()),
        sa.Column("reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("cost", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_score"),
    )
    op.create_index("ix_score_experiment_id", "score", ["experiment_id"])
    op.create_index("ix_score_run_id_evaluator", "score", ["run_id", "evaluator"])
    op.create_table(
        "rating",
        sa.Column("id", sa.String(26)),
        sa.Column("experiment_id", sa.String(26), nullable=False),
        sa.Column("run_id", sa.String(26), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rating"),
    )
    op.create_index("ix_rating_experiment_id", "rating", ["experiment_id"])
    op.create_index("ix_rating_run_id", "rating", ["run_id"])
    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(64)),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_response_cache"),
    )
    for view in (RUNS_VIEW, SCORES_VIEW, EXPERIMENTS_VIEW):
        op.execute(view)


def downgrade() -> None:
    for view in ("experiments", "scores", "runs"):
        op.execute(f"drop view {view}")
    for table in ("response_cache", "rating", "score", "run_step", "run", "experiment_row", "variant", "experiment"):
        op.drop_table(table)
