"""Reading the store from a terminal: templates, experiments and their runs."""

from __future__ import annotations

from pathlib import Path

import click

from promptlab_nb.cli.console import fail, open_lab, reports_user_errors, store_option
from promptlab_nb.cli.summary_text import summary_text
from promptlab_nb.core.vocabulary import ExperimentStatus

RUN_FORMATS = ("csv", "parquet", "jsonl")


@click.group()
def templates() -> None:
    """Templates in the store: list, show, history, diff."""


@templates.command("list")
@store_option
@reports_user_errors
def list_templates(store: str | None) -> None:
    """Every live template: name, latest version, variables, model."""
    table = open_lab(store).templates.list()
    click.echo(table.to_string(index=False) if not table.empty else "No templates yet.")


@templates.command("show")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=1), help="A version number [default: the latest].")
@store_option
@reports_user_errors
def show_template(name: str, version: int | None, store: str | None) -> None:
    """A template's card and body."""
    template = open_lab(store).templates.get(name, version)
    click.echo(f"{template!r}\n\n{template.body}")


@templates.command("history")
@click.argument("name")
@store_option
@reports_user_errors
def template_history(name: str, store: str | None) -> None:
    """Every version of a template, oldest first."""
    for template in open_lab(store).templates.history(name):
        description = f"  {template.description}" if template.description else ""
        click.echo(f"{template.ref}  {template.created_at:%Y-%m-%d %H:%M}  {template.model or '-'}{description}")


@templates.command("diff")
@click.argument("name")
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1))
@store_option
@reports_user_errors
def template_diff(name: str, old: int, new: int, store: str | None) -> None:
    """What changed between two versions of a template."""
    click.echo(str(open_lab(store).templates.diff(name, old, new)))


@click.group()
def experiments() -> None:
    """Experiments in the store: list, show."""


@experiments.command("list")
@store_option
@reports_user_errors
def list_experiments(store: str | None) -> None:
    """Every experiment, newest first: status, variants, rows, runs, errors and cost."""
    table = open_lab(store).experiments()
    click.echo(table.to_string(index=False) if not table.empty else "No experiments yet.")


@experiments.command("show")
@click.argument("name")
@store_option
@reports_user_errors
def show_experiment(name: str, store: str | None) -> None:
    """An experiment's summary: per variant, each score with its 95% CI, errors and cost. An experiment
    awaiting provider batches first stores the answers of those that finished."""
    experiment = open_lab(store).experiment(name)
    if experiment.status == ExperimentStatus.SUBMITTED:
        experiment.refresh()
    click.echo(f"{summary_text(experiment.name, experiment.summary())}\nStatus: {experiment.status}")


@click.command()
@click.argument("name")
@click.option("--format", "run_format", type=click.Choice(RUN_FORMATS), help="[default: from the file's extension]")
@click.option("-o", "--output", required=True, metavar="PATH", help="The file to write.")
@store_option
@reports_user_errors
def runs(name: str, run_format: str | None, output: str, store: str | None) -> None:
    """Write experiment NAME's runs, one row per run, as CSV, Parquet or JSONL."""
    path = Path(output)
    if run_format is not None and path.suffix.lower() != f".{run_format}":
        fail(f"--format {run_format} writes a .{run_format} file; name the output {path.stem}.{run_format}.")
    written = open_lab(store).experiment(name).export(path)
    click.echo(f"Wrote {written}")


@click.command()
@click.argument("name")
@click.option("-o", "--output", metavar="FILE", help="The HTML file to write.  [default: NAME.html]")
@click.option("--max-rows", type=click.IntRange(min=1), help="Keep at most this many data rows in the report.")
@store_option
@reports_user_errors
def report(name: str, output: str | None, max_rows: int | None, store: str | None) -> None:
    """Write experiment NAME as one self-contained HTML file that opens without a kernel or a network."""
    experiment = open_lab(store).experiment(name)
    options = {} if max_rows is None else {"max_rows": max_rows}
    written = experiment.report(output or f"{name}.html", **options)
    click.echo(f"Wrote {written}")
