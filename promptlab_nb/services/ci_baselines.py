"""The baseline a CI run is compared with: an experiment by name, or ``template@label`` (``@3`` for a
version): the latest earlier experiment on the same data that ran the version the label points at,
e.g. ``summarize@production``, what is in production today."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.schemas.definitions import Template
from promptlab_nb.services.baselines import DATA_HASH
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.models import StoredExperiment, Variant


def check_baseline(session: Session, baseline: str) -> None:
    """Refuse, before anything runs, a baseline naming no experiment, template, version or label."""
    if "@" in baseline:
        _template_version(session, baseline)
    else:
        ExperimentService(session).get(baseline)


def baseline_experiment(session: Session, experiment: str, baseline: str) -> str:
    """The name of the experiment ``baseline`` stands for, for ``experiment``."""
    if "@" not in baseline:
        return baseline
    template = _template_version(session, baseline)
    current = ExperimentService(session).get(experiment)
    query = (
        select(StoredExperiment.name, StoredExperiment.settings)
        .where(
            StoredExperiment.created_at < current.created_at,
            StoredExperiment.id.in_(
                select(Variant.experiment_id).where(Variant.target_version_id == template.version_id)
            ),
        )
        .order_by(StoredExperiment.created_at.desc())
    )
    data = current.settings.get(DATA_HASH)
    for candidate, settings in session.execute(query):
        if data is not None and (settings or {}).get(DATA_HASH) == data:
            return candidate
    raise errors.BaselineNotFound(experiment, [baseline])


def _template_version(session: Session, reference: str) -> Template:
    name, _, pin = reference.partition("@")
    templates = TemplateService(session)
    return templates.get(name, int(pin)) if pin.isdigit() else templates.get(name, label=pin)
