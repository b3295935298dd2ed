"""Experiment files: the YAML a pipeline runs with ``promptlab run FILE``.

The file is checked against the JSON Schema shipped in ``promptlab_nb/schemas`` and then against
what the schema cannot say (templates compile, providers exist, thresholds name an evaluator), every
mistake reported with the line and column where it was written, before anything is stored.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import (
    InvalidData,
    InvalidEvaluator,
    InvalidFile,
    InvalidTemplate,
    PromptLabError,
    UnknownProvider,
)
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.engine.providers.registry import available_providers, provider_factory
from promptlab_nb.evaluation.specs import as_evaluator
from promptlab_nb.evaluation.thresholds import Threshold, parse_threshold
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.file_schema import first_error
from promptlab_nb.services.marked_yaml import MarkedDocument, PathPart, load_marked, read_text
from promptlab_nb.services.prompty_files import read_prompty
from promptlab_nb.services.template_drafts import PipelineDraft, TemplateDraft, save_drafts

SCHEMA_FILE = "experiment_file.schema.json"
TEMPLATE_FILE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".txt")


@dataclass(frozen=True)
class ExperimentFile:
    """What an experiment file asks for, checked and ready to plan."""

    path: Path
    name: str | None = None
    targets: list[str] = field(default_factory=list)
    templates: list[TemplateDraft] = field(default_factory=list)
    pipelines: list[PipelineDraft] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    param_sets: list[dict[str, Any]] = field(default_factory=list)
    data: Any = None
    repeats: int = 1
    concurrency: int | None = None
    evaluators: list[Any] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    baseline: str | None = None
    warnings: list[str] = field(default_factory=list)

    def save_definitions(self, session: Session, settings: PromptLab) -> None:
        """Save the templates and pipelines the file defines, in the unit of work that stores the experiment."""
        save_drafts(session, settings, self.templates, self.pipelines)

    def with_repeats(self, repeats: int | None) -> ExperimentFile:
        return self if repeats is None else replace(self, repeats=repeats)


def read_experiment_file(path: Path, settings: PromptLab | None = None) -> ExperimentFile:
    """Read and check ``path``; InvalidFile says what is wrong and where."""
    return experiment_from_document(load_marked(path), settings)


def experiment_from_document(
    document: MarkedDocument, settings: PromptLab | None = None, warnings: Sequence[str] = ()
) -> ExperimentFile:
    """The experiment a parsed experiment file describes (also one converted from a promptfoo config)."""
    check_against_schema(document)
    spec = document.data
    path = document.path
    base = path.parent
    file_warnings = list(warnings)
    templates, targets = _templates(document, base, settings, file_warnings)
    pipelines, pipeline_targets = _pipelines(spec.get("pipelines", []))
    models = _models(document, spec)
    _check_template_models(document, templates)
    evaluators = _evaluators(document, spec.get("evaluators", []))
    return ExperimentFile(
        path=path,
        name=spec.get("name"),
        targets=[*targets, *pipeline_targets],
        templates=templates,
        pipelines=pipelines,
        models=models,
        param_sets=_param_sets(spec.get("params")),
        data=_data(document, spec.get("data"), base),
        repeats=spec.get("repeats", 1),
        concurrency=spec.get("concurrency"),
        evaluators=evaluators,
        thresholds=_thresholds(document, spec.get("thresholds", []), [evaluator.name for evaluator in evaluators]),
        baseline=spec.get("baseline"),
        warnings=file_warnings,
    )


@cache
def experiment_file_schema() -> dict[str, Any]:
    """The JSON Schema of experiment files, as shipped in the package."""
    return json.loads(files("promptlab_nb.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def check_against_schema(document: MarkedDocument) -> None:
    if not isinstance(document.data, dict):
        raise document.error([], "an experiment file is a YAML mapping with templates, models, data, evaluators, ...")
    error = first_error(experiment_file_schema(), document.data)
    if error is None:
        return
    if error.unknown_key is not None:
        raise document.error(error.path, _unknown_key(error.unknown_key, list(error.known_keys)), key=error.unknown_key)
    if error.keyword == "anyOf" and not error.path:
        raise document.error([], "name what to run: templates, pipelines or both")
    raise document.error(error.path, error.message)


def _unknown_key(key: str, known: list[str]) -> str:
    close = get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"the keys are: {', '.join(known)}"
    return f"unknown key {key!r} ({hint})"


def _templates(
    document: MarkedDocument, base: Path, settings: PromptLab | None, warnings: list[str]
) -> tuple[list[TemplateDraft], list[str]]:
    drafts, targets = [], []
    for index, item in enumerate(document.data.get("templates", [])):
        where: list[PathPart] = ["templates", index]
        if isinstance(item, str):
            targets.append(item)
            continue
        draft = _template_draft(document, where, item, base, warnings)
        try:
            draft.check(settings)
        except InvalidTemplate as error:
            raise document.error([*where, "body" if "body" in item else "file"], str(error)) from None
        drafts.append(draft)
        targets.append(draft.name)
    return drafts, targets


def _template_draft(
    document: MarkedDocument, where: list[PathPart], item: dict[str, Any], base: Path, warnings: list[str]
) -> TemplateDraft:
    overrides: dict[str, Any] = {key: item[key] for key in ("model", "description", "params") if key in item}
    if "body" in item:
        return TemplateDraft(item["name"], item["body"], **overrides)
    path = base / item["file"]
    try:
        draft = template_from_file(path, warnings)
    except PromptLabError as error:
        raise document.error([*where, "file"], str(error)) from None
    if "params" in overrides:
        overrides["params"] = {**draft.params, **overrides["params"]}
    return replace(draft, name=item.get("name", draft.name), **overrides)


def template_from_file(path: Path, warnings: list[str]) -> TemplateDraft:
    """A template from a .prompty file (what it holds that has no counterpart added to ``warnings``), or a
    .j2 / .txt file whose whole text is the body (named by the file)."""
    if path.suffix.lower() == ".prompty":
        imported = read_prompty(path)
        warnings += imported.warnings
        return imported.template
    if path.suffix.lower() not in TEMPLATE_FILE_SUFFIXES:
        raise InvalidFile(str(path), "a template file is a .prompty, .j2, .jinja or .txt file")
    return TemplateDraft(path.stem, read_text(path))


def _pipelines(items: Sequence[Any]) -> tuple[list[PipelineDraft], list[str]]:
    drafts = [
        PipelineDraft(item["name"], item["steps"], item.get("description")) for item in items if isinstance(item, dict)
    ]
    return drafts, [item if isinstance(item, str) else item["name"] for item in items]


def _models(document: MarkedDocument, spec: dict[str, Any]) -> list[str]:
    models = spec.get("models", [])
    listed = [models] if isinstance(models, str) else list(models)
    for index, model in enumerate(listed):
        check_model(document, ["models"] if isinstance(models, str) else ["models", index], model)
    return listed


def _check_template_models(document: MarkedDocument, templates: list[TemplateDraft]) -> None:
    for index, item in enumerate(document.data.get("templates", [])):
        if isinstance(item, dict) and "model" in item:
            check_model(document, ["templates", index, "model"], item["model"])
    for draft in templates:
        if draft.model:
            check_model(document, ["templates"], draft.model)


def check_model(document: MarkedDocument, where: list[PathPart], model: str) -> None:
    """A model spec of a known provider, else InvalidFile at ``where``."""
    try:
        provider = ModelSpec.parse(model).provider
    except PromptLabError as error:
        raise document.error(where, str(error)) from None
    try:
        provider_factory(provider)
    except UnknownProvider:
        known = ", ".join(sorted(available_providers()))
        raise document.error(where, f"unknown provider {provider!r} in {model!r}; known providers: {known}") from None


def _param_sets(params: Any) -> list[dict[str, Any]]:
    """A list of param sets as given, or every combination of a grid's values (a scalar is one value)."""
    if params is None:
        return []
    if isinstance(params, list):
        return params
    names = list(params)
    choices = [value if isinstance(value, list) else [value] for value in params.values()]
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*choices)]


def _data(document: MarkedDocument, data: Any, base: Path) -> Any:
    if not isinstance(data, str):
        return data
    path = base / data
    if not path.exists():
        raise document.error(["data"], f"no data file at {path}")
    return path


def _evaluators(document: MarkedDocument, specs: Sequence[Any]) -> list[Any]:
    evaluators = []
    for index, spec in enumerate(specs):
        try:
            evaluators.append(as_evaluator(spec))
        except InvalidEvaluator as error:
            raise document.error(["evaluators", index], str(error).splitlines()[0]) from None
    return evaluators


def _thresholds(document: MarkedDocument, texts: Sequence[str], evaluators: Sequence[str]) -> list[Threshold]:
    thresholds = []
    for index, text in enumerate(texts):
        try:
            thresholds.append(parse_threshold(text, evaluators))
        except InvalidData as error:
            raise document.error(["thresholds", index], str(error)) from None
    return thresholds


def unique_experiment_name(session: Session, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, ... when an experiment already has it: a file runs again and again."""
    return ExperimentService(session).unique_name(base)
