"""The ``promptlab`` console script (also ``python -m promptlab_nb``).

Each command lives in a module imported only when that command runs, so ``promptlab --help`` loads
click and nothing else of weight. Exit codes: 0 when the run passed, 1 when a threshold or the
baseline failed, 2 for a usage or configuration error (one line, no traceback).
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "promptlab_nb.cli.run_command:run",
        "Run an experiment file or a promptfoo config; exit 1 on a failed check.",
    ),
    "import": ("promptlab_nb.cli.interop_commands:import_group", "Import Prompty files or a promptfoo config."),
    "export": ("promptlab_nb.cli.interop_commands:export_group", "Export a template as a Prompty file."),
    "templates": ("promptlab_nb.cli.store_commands:templates", "List, show, diff templates and their history."),
    "experiments": ("promptlab_nb.cli.store_commands:experiments", "List experiments or show one's summary."),
    "runs": ("promptlab_nb.cli.store_commands:runs", "Write an experiment's runs as CSV, Parquet or JSONL."),
    "report": ("promptlab_nb.cli.store_commands:report", "Write an experiment as a self-contained HTML report."),
    "serve": ("promptlab_nb.cli.serve_commands:serve", "Serve templates over REST (needs the serve extra)."),
    "tokens": ("promptlab_nb.cli.serve_commands:tokens", "API tokens for promptlab serve: create, list, revoke."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; ``--help`` lists them from their short help."""

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy_commands]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
        command = getattr(_import_for_good(module_name), attribute)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short_help) for name, (_, short_help) in self.lazy_commands.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _import_for_good(module_name: str) -> Any:
    """Import a command's module with the cyclic garbage collector paused, then freeze what is loaded.

    A command imports pandas, SQLAlchemy and the package: objects that live as long as the process.
    The collector's passes over them while they load find nothing to free and cost about a sixth of
    a cached ``promptlab run``; frozen, the later passes skip them.
    """
    gc.disable()
    try:
        return importlib.import_module(module_name)
    finally:
        gc.freeze()
        gc.enable()


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="promptlab_nb", prog_name="promptlab")
def cli() -> None:
    """promptlab: run prompt experiments headless, gate CI on them, import and export prompts.

    The store is $PROMPTLAB_URL, else ./promptlab.duckdb; --store URL chooses another.
    """


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="promptlab")
