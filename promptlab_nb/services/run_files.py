"""Files a user brings: what ``promptlab run FILE`` runs (an experiment file or a promptfoo config), and
what ``%prompt import FILE`` saves (also from a .prompty file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from promptlab_nb.core.config import PromptLab
from promptlab_nb.schemas.definitions import Pipeline, Template
from promptlab_nb.services.experiment_files import ExperimentFile, read_experiment_file
from promptlab_nb.services.marked_yaml import load_marked
from promptlab_nb.services.promptfoo_import import read_promptfoo_config
from promptlab_nb.services.prompty_files import read_prompty
from promptlab_nb.services.template_drafts import PipelineDraft, TemplateDraft


def read_run_file(path: Path, settings: PromptLab | None = None) -> ExperimentFile:
    """An experiment file, or a promptfoo config (named promptfooconfig.*, or with prompts and providers)."""
    if is_promptfoo_config(path):
        return read_promptfoo_config(path, settings)
    return read_experiment_file(path, settings)


def is_promptfoo_config(path: Path) -> bool:
    if path.name.startswith("promptfooconfig."):
        return True
    document = load_marked(path)
    return isinstance(document.data, dict) and "prompts" in document.data and "providers" in document.data


@dataclass(frozen=True)
class FileDefinitions:
    """The templates and pipelines a file defines, and one warning line per kind of thing left out."""

    templates: list[TemplateDraft] = field(default_factory=list)
    pipelines: list[PipelineDraft] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def definitions_in(path: Path, settings: PromptLab | None = None) -> FileDefinitions:
    """What ``%prompt import FILE`` saves: a .prompty file's template, or the templates and pipelines of an
    experiment file or a promptfoo config."""
    if path.suffix.lower() == ".prompty":
        imported = read_prompty(path)
        imported.template.check(settings)
        return FileDefinitions([imported.template], [], imported.warnings)
    experiment = read_run_file(path, settings)
    return FileDefinitions(experiment.templates, experiment.pipelines, experiment.warnings)


@dataclass(frozen=True)
class FileImport:
    """What ``lab.import_file`` saved, and one warning line per kind of thing the file held that was left out."""

    saved: list[Template | Pipeline]
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        rows = [
            {
                "name": item.name,
                "version": item.version,
                "kind": type(item).__name__.lower(),
                "unchanged": item.unchanged,
            }
            for item in self.saved
        ]
        return pd.DataFrame(rows, columns=["name", "version", "kind", "unchanged"])

    def __repr__(self) -> str:
        return "\n".join([*self.warnings, self.frame().to_string(index=False)])

    def _repr_html_(self) -> str:
        from html import escape

        notes = "".join(f"<p>{escape(warning)}</p>" for warning in self.warnings)
        return notes + self.frame().to_html(index=False)
