"""The store's tables (singular names; the plural names are the friendly views for SQL).

JSON values are kept as text so DuckDB and PostgreSQL behave alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JSONText(TypeDecorator):
    """JSON stored as text: portable, and DuckDB's json functions read it directly."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, default=str)

    def process_result_value(self, value: str | None, dialect) -> Any:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id_column() -> Mapped[str]:
    return mapped_column(String(26), primary_key=True, default=new_id)


class StoredTemplate(Base):
    __tablename__ = "template"

    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class TemplateVersion(Base):
    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[str] = _id_column()
    template_id: Mapped[str] = mapped_column(ForeignKey("template.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSONText, default=dict)
    examples: Mapped[dict | None] = mapped_column(JSONText)
    description: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StoredPipeline(Base):
    __tablename__ = "pipeline"

    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class PipelineVersion(Base):
    __tablename__ = "pipeline_version"
    __table_args__ = (UniqueConstraint("pipeline_id", "version"),)

    id: Mapped[str] = _id_column()
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipeline.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list] = mapped_column(JSONText)
    inputs: Mapped[list] = mapped_column(JSONText, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StoredExperiment(Base):
    """``claimed_by`` names the session running it (``claim_host``, ``claim_pid``, its ``claim_token``),
    which refreshes ``heartbeat_at`` while it runs and clears the claim when it ends."""

    __tablename__ = "experiment"

    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=ExperimentStatus.CREATED)
    mode: Mapped[str] = mapped_column(String(20), default=Mode.LIVE)
    repeats: Mapped[int] = mapped_column(Integer, default=1)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    settings: Mapped[dict] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(26))
    claim_host: Mapped[str | None] = mapped_column(String(200))
    claim_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)


class Variant(Base):
    __tablename__ = "variant"
    __table_args__ = (
        UniqueConstraint("experiment_id", "label"),
        Index("ix_variant_target_name_kind", "target_name", "kind").ddl_if(dialect="postgresql"),
    )

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiment.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(20))
    target_name: Mapped[str] = mapped_column(String(200))
    target_version: Mapped[int] = mapped_column(Integer)
    target_version_id: Mapped[str] = mapped_column(String(26))
    model: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSONText, default=dict)


class ExperimentRow(Base):
    __tablename__ = "experiment_row"

    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiment.id"), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    inputs: Mapped[dict] = mapped_column(JSONText)


class Run(Base):
    __tablename__ = "run"
    __table_args__ = (
        UniqueConstraint("variant_id", "row_index", "repeat"),
        Index("ix_run_experiment_id_status", "experiment_id", "status"),
        Index("ix_run_experiment_id_row_index", "experiment_id", "row_index").ddl_if(dialect="postgresql"),
    )

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26))
    variant_id: Mapped[str] = mapped_column(String(26))
    row_index: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20), default=Mode.LIVE)
    messages: Mapped[list | None] = mapped_column(JSONText)
    output: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[Any] = mapped_column(JSONText)
    error: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    request_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class IndexedTexts(Base):
    """An experiment whose texts have text blocks: one stored by an older version has none until
    ``lab.vacuum()`` indexes it."""

    __tablename__ = "indexed_texts"

    experiment_id: Mapped[str] = mapped_column(String(26), primary_key=True)


class TextBlock(Base):
    """The trigrams the texts of a block of an experiment's data rows hold (store/text_grams.py): ``kind``
    is ``shown`` for what its runs show, ``inputs`` for its data; ``four_grams`` when the bitset holds the
    windows of four bytes too."""

    __tablename__ = "text_block"
    __table_args__ = (Index("ix_text_block_experiment_id_kind_block", "experiment_id", "kind", "block"),)

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(10))
    block: Mapped[int] = mapped_column(Integer)
    grams: Mapped[bytes] = mapped_column(LargeBinary)
    four_grams: Mapped[bool] = mapped_column(Boolean)


class RunStep(Base):
    __tablename__ = "run_step"

    id: Mapped[str] = _id_column()
    run_id: Mapped[str] = mapped_column(String(26), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(220))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    messages: Mapped[list | None] = mapped_column(JSONText)
    output: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[Any] = mapped_column(JSONText)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)


class Score(Base):
    __tablename__ = "score"
    __table_args__ = (Index("ix_score_run_id_evaluator", "run_id", "evaluator"),)

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26), index=True)
    run_id: Mapped[str] = mapped_column(String(26))
    evaluator: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Rating(Base):
    __tablename__ = "rating"

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26), index=True)
    run_id: Mapped[str] = mapped_column(String(26), index=True)
    value: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CacheEntry(Base):
    __tablename__ = "response_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[dict] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProviderBatch(Base):
    """One batch submitted to a provider's batch API: which cells of the experiment it carries
    (``custom_ids``) and where it stands. ``collected_at`` is set once its results are stored.
    It is recorded before it is submitted: ``provider_batch_id`` is None while it is ``submitting``.
    A judge's batch carries its requests instead of runs: ``judging`` names the judge and what it judges."""

    __tablename__ = "provider_batch"
    __table_args__ = (UniqueConstraint("provider", "provider_batch_id"),)

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26), index=True)
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    provider_batch_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    request_count: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    custom_ids: Mapped[list] = mapped_column(JSONText)
    judging: Mapped[dict | None] = mapped_column(JSONText)
    error: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    collected_at: Mapped[datetime | None] = mapped_column(DateTime)


class DefinitionLabel(Base):
    """A label (``production``, ``staging``) pointing at one version of a template or a pipeline
    (``kind``); one row per label and definition, moved in place."""

    __tablename__ = "definition_label"
    __table_args__ = (UniqueConstraint("kind", "definition_id", "label"),)

    id: Mapped[str] = _id_column()
    kind: Mapped[str] = mapped_column(String(20))
    definition_id: Mapped[str] = mapped_column(String(26))
    label: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    moved_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LabelMove(Base):
    """Each move of a label, kept for the definition's history."""

    __tablename__ = "label_move"
    __table_args__ = (Index("ix_label_move_kind_definition_id", "kind", "definition_id"),)

    id: Mapped[str] = _id_column()
    kind: Mapped[str] = mapped_column(String(20))
    definition_id: Mapped[str] = mapped_column(String(26))
    label: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    moved_by: Mapped[str | None] = mapped_column(String(200))
    moved_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    """A token an application presents to `promptlab serve`; only its SHA-256 is stored, with the
    first characters (``prefix``) to tell tokens apart."""

    __tablename__ = "api_token"

    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    read_only: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Preference(Base):
    """A person's pick between two outputs of one row, as they were shown (left, right);
    ``preferred_run_id`` is None for a tie."""

    __tablename__ = "preference"

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26), index=True)
    row_index: Mapped[int] = mapped_column(Integer)
    left_run_id: Mapped[str] = mapped_column(String(26))
    right_run_id: Mapped[str] = mapped_column(String(26))
    preferred_run_id: Mapped[str | None] = mapped_column(String(26))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PairwiseVerdict(Base):
    """A pairwise judge's verdict between the runs of two variants on one row, asked in both orders:
    ``a_first`` is its pick (A, B or tie) with run a shown first, ``b_first`` with run b first;
    ``winner_run_id`` is None for a tie (the orders disagreed, or both said tie) and when it failed."""

    __tablename__ = "pairwise_verdict"
    __table_args__ = (Index("ix_pairwise_verdict_experiment_id_judge", "experiment_id", "judge"),)

    id: Mapped[str] = _id_column()
    experiment_id: Mapped[str] = mapped_column(String(26))
    judge: Mapped[str] = mapped_column(String(200))
    row_index: Mapped[int] = mapped_column(Integer)
    variant_a_id: Mapped[str] = mapped_column(String(26))
    variant_b_id: Mapped[str] = mapped_column(String(26))
    run_a_id: Mapped[str] = mapped_column(String(26))
    run_b_id: Mapped[str] = mapped_column(String(26))
    a_first: Mapped[str | None] = mapped_column(String(10))
    b_first: Mapped[str | None] = mapped_column(String(10))
    winner_run_id: Mapped[str | None] = mapped_column(String(26))
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
