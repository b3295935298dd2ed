"""The words the store keeps: statuses and modes. Each is a ``StrEnum``, so a member equals the
string stored for it and pandas, SQL and old stores keep working; a typo is an AttributeError."""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    """A stored word that shows as the plain string a user typed or saw before, e.g. ``'completed'``."""

    def __repr__(self) -> str:
        return repr(self.value)


class RunStatus(Word):
    """How one run (or one pipeline step) ended."""

    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"


class ExperimentStatus(Word):
    """Where an experiment stands: planned (not stored yet), created, running, then completed or
    interrupted; in batch mode submitted while batches are awaited, cancelled when one was. Unsaved
    is never stored: it shows, in the session that ran it, an experiment whose last write failed."""

    PLANNED = "planned"
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"
    UNSAVED = "unsaved"


class DefinitionKind(Word):
    """What a variant runs and a label points at: a template or a pipeline."""

    TEMPLATE = "template"
    PIPELINE = "pipeline"


class Mode(Word):
    """How an experiment's runs are called: one request at a time, or through provider batch APIs."""

    LIVE = "live"
    BATCH = "batch"


class BatchStatus(Word):
    """Where a provider batch stands: recorded before it is submitted, in progress, or finished."""

    SUBMITTING = "submitting"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINISHED_BATCH_STATUSES = frozenset({BatchStatus.ENDED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED})
