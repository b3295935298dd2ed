"""``promptlab run FILE``: an experiment file or a promptfoo config, run headless and gated."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from promptlab_nb.cli.console import (
    CHECK_FAILED,
    lab_settings,
    open_lab,
    reports_user_errors,
    store_option,
    write_text,
)
from promptlab_nb.cli.summary_text import checks_text, summary_text
from promptlab_nb.core.vocabulary import Mode, RunStatus
from promptlab_nb.services.ci_baselines import baseline_experiment, check_baseline
from promptlab_nb.services.ci_reports import baseline_checks, junit_xml, results_document, threshold_checks
from promptlab_nb.services.experiment_files import unique_experiment_name
from promptlab_nb.services.run_files import read_run_file

PLAIN_PROGRESS_SECONDS = 2.0


class PlainProgress:
    """Progress as plain lines on stderr (a log, not a terminal): at most one line every few seconds."""

    def __init__(self) -> None:
        self.done = self.errors = self.cached = 0
        self.cost = 0.0
        self._last_line: float | None = None

    def __call__(self, run: dict[str, Any]) -> None:
        self.done += 1
        self.errors += run["status"] != RunStatus.OK
        self.cached += bool(run["cache_hit"])
        self.cost += run["cost"] or 0.0
        if self._last_line is None:
            self._last_line = time.monotonic()
        elif time.monotonic() - self._last_line >= PLAIN_PROGRESS_SECONDS:
            self.write()

    def write(self) -> None:
        self._last_line = time.monotonic()
        click.echo(f"{self.done} runs done: {self.errors} errors, {self.cached} cached, ${self.cost:.4f}", err=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@click.option("--name", help="Name of the experiment [default: the file's name:, made unique].")
@click.option(
    "--baseline",
    help="An earlier experiment, or TEMPLATE@LABEL: the latest one that ran that version (overrides baseline:).",
)
@click.option("--batch", is_flag=True, help="Send the runs through the providers' batch APIs (about half price).")
@click.option("--repeats", type=click.IntRange(min=1), help="Run each row this many times (overrides repeats:).")
@click.option("--no-cache", is_flag=True, help="Call the models again even for prompts already answered.")
@click.option("--yes", "-y", is_flag=True, help="Run even when estimated above the cost limit.")
@click.option("--json", "json_path", metavar="PATH", help="Write the results as JSON (schema in the README).")
@click.option("--junit", "junit_path", metavar="PATH", help="Write JUnit XML: a testcase per variant and check.")
@click.option("--html", "html_path", metavar="PATH", help="Write the self-contained HTML report.")
@reports_user_errors
def run(
    file: Path,
    store: str | None,
    name: str | None,
    baseline: str | None,
    batch: bool,
    repeats: int | None,
    no_cache: bool,
    yes: bool,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
) -> None:
    """Run FILE (an experiment file or a promptfoo config), print the summary and check its thresholds
    and baseline.

    Exits 0 when every check holds, 1 when one fails, 2 on a usage or configuration error.
    """
    terminal = sys.stderr.isatty()
    settings = lab_settings(progress=terminal)
    spec = read_run_file(file, settings).with_repeats(repeats)
    for warning in spec.warnings:
        click.echo(f"Warning: {warning}", err=True)
    lab = open_lab(store, settings)
    baseline = baseline or spec.baseline
    if baseline:
        with lab.db.session() as session:
            check_baseline(session, baseline)
    if name is None and spec.name:
        with lab.db.session() as session:
            name = unique_experiment_name(session, spec.name)
    plain_progress = None if terminal else PlainProgress()
    experiment = lab.compare(
        spec.targets,
        spec.data,
        models=spec.models or None,
        params=spec.param_sets or None,
        repeats=spec.repeats,
        name=name,
        evaluators=spec.evaluators,
        cache=not no_cache,
        concurrency=spec.concurrency,
        confirm=yes,
        progress=terminal,
        mode=Mode.BATCH if batch else Mode.LIVE,
        prepare=lambda session: spec.save_definitions(session, lab.settings),
        on_run=plain_progress,
    )
    if plain_progress is not None and plain_progress.done:
        plain_progress.write()
    if batch:
        click.echo(
            f"Experiment {experiment.name!r} is {experiment.status}: the providers answer batches within 24 hours; "
            f"`promptlab experiments show {experiment.name}` stores the answers so far and shows the summary."
        )
        return
    summary = experiment.summary()
    checks = threshold_checks(summary, spec.thresholds)
    if baseline:
        with lab.db.session() as session:
            baseline = baseline_experiment(session, experiment.name, baseline)
        checks += baseline_checks(experiment.compare_to(baseline), list(summary.index))
    click.echo(summary_text(experiment.name, summary))
    if checks:
        click.echo(checks_text(checks))
    if json_path:
        with lab.db.session() as session:
            document = results_document(session, experiment.id, experiment.name, summary, checks)
        write_text(json_path, _json_text(document))
    if junit_path:
        write_text(junit_path, junit_xml(experiment.name, checks))
    if html_path:
        experiment.report(html_path)
    if not all(check.passed for check in checks):
        sys.exit(CHECK_FAILED)


def _json_text(document: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
