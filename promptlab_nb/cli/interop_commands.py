"""``promptlab import`` and ``promptlab export``: Prompty files and promptfoo configs."""

from __future__ import annotations

from pathlib import Path

import click

from promptlab_nb.cli.console import lab_settings, open_lab, reports_user_errors, store_option, write_text


@click.group("import")
def import_group() -> None:
    """Import Prompty files as templates, or convert a promptfoo config to an experiment file."""


@import_group.command("prompty")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@store_option
@reports_user_errors
def import_prompty(files: tuple[Path, ...], store: str | None) -> None:
    """Save each .prompty FILE as a template (a new version only when something changed)."""
    from promptlab_nb.services.prompty_files import read_prompty
    from promptlab_nb.services.template_drafts import save_drafts

    imports = [read_prompty(path) for path in files]
    for imported in imports:
        imported.template.check()
    for warning in (warning for imported in imports for warning in imported.warnings):
        click.echo(f"Warning: {warning}", err=True)
    lab = open_lab(store)
    with lab.db.session() as session:
        saved, _ = save_drafts(session, lab.settings, [imported.template for imported in imports])
    for path, template in zip(files, saved, strict=True):
        state = "unchanged" if template.unchanged else "saved"
        click.echo(f"{path.name}: {state} {template.ref} ({', '.join(template.variables) or 'no variables'})")


@import_group.command("promptfoo")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, metavar="PATH", help="The experiment file to write (.yaml).")
@reports_user_errors
def import_promptfoo(config: Path, output: str) -> None:
    """Convert a promptfoo CONFIG to an experiment file that `promptlab run` runs."""
    from promptlab_nb.services.promptfoo_import import convert_promptfoo_config

    converted = convert_promptfoo_config(config, lab_settings(), Path(output).parent)
    for warning in converted.warnings:
        click.echo(f"Warning: {warning}", err=True)
    write_text(output, converted.yaml_text())
    click.echo(f"Wrote {output}: {converted.summary()}")


@click.group("export")
def export_group() -> None:
    """Export templates to files other tools read."""


@export_group.command("prompty")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=1), help="A version number [default: the latest].")
@click.option("-o", "--output", required=True, metavar="FILE", help="The .prompty file to write.")
@store_option
@reports_user_errors
def export_prompty(name: str, version: int | None, output: str, store: str | None) -> None:
    """Write template NAME as a .prompty file (the newer Prompty layout)."""
    from promptlab_nb.services.prompty_files import prompty_text
    from promptlab_nb.services.template_drafts import TemplateDraft

    template = open_lab(store).templates.get(name, version)
    write_text(output, prompty_text(TemplateDraft.of(template)))
    click.echo(f"Wrote {output} from {template.ref}")
