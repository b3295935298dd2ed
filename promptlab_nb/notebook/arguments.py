"""What %%prompt, %%pipeline and %prompt accept, declared once.

The declarations (IPython's ``magic_arguments.argument``) build the parsers that read the line, the
``%prompt?`` and ``%%pipeline?`` help, ``%prompt help`` and the README's synopsis of the magics.
Regenerate the README part with ``python -m promptlab_nb.notebook.arguments --readme``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from promptlab_nb.schemas.report_records import REPORT_ROWS

F = TypeVar("F", bound=Callable[..., Any])


class _HelpFormatter(argparse.HelpFormatter):
    """A fixed width, so the help reads the same in every terminal and in the README."""

    def __init__(self, prog: str):
        super().__init__(prog, indent_increment=4, max_help_position=30, width=100)


class MagicArgumentParser(magic_arguments.MagicArgumentParser):
    """IPython's magic parser (a mistake is a ``UsageError``, one line) that names the magic in the
    error and takes no abbreviated options."""

    def __init__(self, prog: str, description: str, declarations: Sequence[argument]):
        super().__init__(prog=prog, description=description, formatter_class=_HelpFormatter)
        self.allow_abbrev = False
        for declaration in declarations:
            declaration.add_to_parser(self, None)

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}. See %prompt help.")

    def format_usage(self) -> str:
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups, prefix="")
        return formatter.format_help()

    def synopsis(self) -> str:
        """The usage and, indented below it, the summary."""
        return self.format_usage() + self._indented(actions=[])

    def format_help(self) -> str:
        """The usage and, indented below it, the summary and what each argument means."""
        return f"{self.format_usage()}\n{self._indented(actions=self._actions)}"

    def _indented(self, actions: Sequence[argparse.Action]) -> str:
        formatter = self._get_formatter()
        formatter.start_section(None)
        formatter.add_text(self.description)
        formatter.add_arguments(actions)
        formatter.end_section()
        return formatter.format_help()


@dataclass(frozen=True)
class Command:
    prog: str
    summary: str
    arguments: tuple[argument, ...] = ()

    def parser(self) -> MagicArgumentParser:
        return MagicArgumentParser(self.prog, self.summary, self.arguments)

    def parse(self, words: Sequence[str]) -> argparse.Namespace:
        return self.parser().parse_args(list(words))


NEW_NAME = "letters, digits and _ - ."
NAME = argument("name", metavar="NAME", help="a template or pipeline")

RUN_OPTIONS = (
    argument(
        "--on",
        dest="data",
        metavar="DATA",
        help="a DataFrame, list of dicts or dict in the notebook, or a CSV, JSONL or Parquet file",
    ),
    argument("--repeats", type=int, default=1, metavar="N", help="calls per row and variant (default 1)"),
    argument("--eval", dest="evaluators", action="append", default=[], metavar="SPEC", help="an evaluator (below)"),
    argument("--name", metavar="NAME", help="the experiment's name"),
    argument("--concurrency", type=int, metavar="N", help="calls at once (default: %%config PromptLab.concurrency)"),
    argument("--no-cache", dest="cache", action="store_false", default=None, help="call even when cached"),
    argument("--yes", dest="confirm", action="store_true", help="run even above the cost limit"),
    argument(
        "--batch",
        action="store_true",
        help="send the calls not cached through the providers' batch APIs (OpenAI, Anthropic, Gemini, mock): "
        'about half the price, answered within 24 hours; the experiment is "submitted" until they finish',
    ),
)

VARIANT_OPTIONS = (
    argument(
        "--model",
        "--models",
        dest="models",
        action="append",
        metavar="MODELS",
        help="provider:model, or several separated by commas: a variant per model",
    ),
    argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model parameter (JSON value); a key given twice makes a variant per value",
    ),
)

TEMPLATE_CELL = Command(
    "%%prompt",
    "Save the cell as template NAME (a new version only when it changed); with --on, run it over DATA; "
    "with --run, run it once with variables from the notebook.",
    (
        argument("template_name", metavar="NAME", help=NEW_NAME),
        argument("--model", metavar="MODEL", help="provider:model (default: %%config PromptLab.default_model)"),
        argument("--temperature", type=float, metavar="T", help="saved with the template, like -p"),
        argument("--max-tokens", type=int, metavar="N", help="saved with the template, like -p"),
        argument("-p", dest="params", action="append", default=[], metavar="KEY=VALUE", help="a model parameter"),
        argument("--json", action="store_true", help="ask for a JSON answer"),
        argument("--schema", metavar="VAR", help="ask for JSON matching the JSON schema dict VAR in the notebook"),
        argument("--description", metavar="TEXT", help="shown in lists and on the card"),
        argument("--run", action="store_true", help="run once with variables from the notebook, streaming the answer"),
        *RUN_OPTIONS,
    ),
)

PIPELINE_CELL = Command(
    "%%pipeline",
    "Save the YAML list of steps in the cell (template, output, model, params, parse: json) as pipeline NAME; "
    "each step's output becomes a variable for the steps after it.",
    (
        argument("pipeline_name", metavar="NAME", help=NEW_NAME),
        argument("--description", metavar="TEXT", help="shown in lists and on the card"),
    ),
)

SUBCOMMANDS = {
    command.prog.removeprefix("%prompt "): command
    for command in (
        Command(
            "%prompt run",
            "Run template or pipeline NAME over DATA; returns the experiment.",
            (
                argument("targets", nargs=1, metavar="NAME", help="a template or pipeline"),
                *VARIANT_OPTIONS,
                *RUN_OPTIONS,
            ),
        ),
        Command(
            "%prompt compare",
            "Run each NAME, model and parameter set over DATA; returns the experiment, which shows them side by side.",
            (
                argument("targets", nargs="+", metavar="NAME", help="templates or pipelines"),
                *VARIANT_OPTIONS,
                *RUN_OPTIONS,
                argument(
                    "--baseline",
                    nargs="?",
                    const="",
                    metavar="EXPERIMENT",
                    help="then compare with this experiment row by row and show the paired differences; alone: "
                    "the latest earlier experiment on the same data with a variant of the same template",
                ),
            ),
        ),
        Command("%prompt list", "The stored templates and pipelines."),
        Command(
            "%prompt show",
            "A template or pipeline: its latest version, version N, or the version LABEL points at.",
            (
                NAME,
                argument("--version", type=int, metavar="N", help="a version number"),
                argument("--label", metavar="LABEL", help="a label, e.g. production"),
            ),
        ),
        Command("%prompt history", "Every version of a template or pipeline, with its labels.", (NAME,)),
        Command(
            "%prompt label",
            "Point LABEL at version VERSION of a template or pipeline (moving it from where it was); "
            "name@LABEL then runs that version.",
            (
                NAME,
                argument("version", type=int, metavar="VERSION", help="a version number"),
                argument("label", metavar="LABEL", help="letters, digits, - and _, e.g. production"),
            ),
        ),
        Command(
            "%prompt diff",
            "What changed in a template or pipeline between two versions.",
            (
                NAME,
                argument("v1", type=int, metavar="V1", help="a version number"),
                argument("v2", type=int, metavar="V2", help="another version number"),
            ),
        ),
        Command(
            "%prompt duplicate",
            "Save a copy of a template or pipeline under a new name.",
            (NAME, argument("new", metavar="NEW", help="the copy's name")),
        ),
        Command("%prompt delete", "Delete a template or pipeline; its versions and runs are kept.", (NAME,)),
        Command("%prompt restore", "Bring back a deleted template or pipeline.", (NAME,)),
        Command("%prompt experiments", "Every experiment, newest first, with its status, runs, errors and cost."),
        Command(
            "%prompt optimize",
            "Improve template NAME on DATA: each round an optimizer model proposes rewrites (the editable template "
            "promptlab-optimizer) that run as variants on a tuning share of the rows; the best becomes a new "
            "version only when it beats the original beyond noise on the held-out rows. Returns the optimisation.",
            (
                argument("template_name", metavar="NAME", help="a template"),
                argument("--on", dest="data", metavar="DATA", help="as for %%prompt run"),
                argument("--eval", dest="evaluators", action="append", default=[], metavar="SPEC", help="an evaluator"),
                argument("--rounds", type=int, default=3, metavar="N", help="rounds of proposals (default 3)"),
                argument("--candidates", type=int, default=4, metavar="K", help="rewrites per round (default 4)"),
                argument("--optimizer", metavar="MODEL", help="the model that rewrites (default: the default model)"),
                argument("--holdout", type=float, default=0.3, metavar="SHARE", help="rows kept for the final test"),
                argument("--budget", type=float, metavar="DOLLARS", help="stop before spending more than this"),
                argument("--seed", type=int, default=0, metavar="N", help="seed of the tuning/holdout split"),
                argument("--name", metavar="NAME", help="the optimisation's name (its experiments start with it)"),
                argument("--no-cache", dest="cache", action="store_false", default=None, help="call even when cached"),
                argument("--yes", dest="confirm", action="store_true", help="run even above the cost limit"),
            ),
        ),
        Command(
            "%prompt runs",
            "The runs of an experiment, one row per call, with its scores.",
            (argument("--experiment", metavar="NAME", help="default: the newest experiment"),),
        ),
        Command(
            "%prompt report",
            "Write experiment NAME as one HTML file that needs no kernel or network: summary, chart and the "
            "grid with filters, search, sorting, diffs and pages.",
            (
                argument("experiment", metavar="NAME", help="an experiment"),
                argument("--out", metavar="FILE", help="the file to write (default: NAME.html)"),
                argument(
                    "--max-rows",
                    type=int,
                    default=REPORT_ROWS,
                    metavar="N",
                    help=f"data rows in the grid (default {REPORT_ROWS}); the file names those left out",
                ),
            ),
        ),
        Command(
            "%prompt batches",
            "Store the results of finished batches (also those submitted in another session) and list every batch.",
            (
                argument(
                    "--no-refresh",
                    dest="refresh",
                    action="store_false",
                    default=True,
                    help="list without asking the providers",
                ),
            ),
        ),
        Command(
            "%prompt import",
            "Save the templates a .prompty file, a promptfoo config or an experiment file defines.",
            (argument("file", metavar="FILE", help="a .prompty file, promptfooconfig.yaml or an experiment file"),),
        ),
        Command(
            "%prompt export",
            "Write template NAME as a .prompty file.",
            (
                NAME,
                argument("--to", dest="path", required=True, metavar="FILE.prompty", help="the file to write"),
                argument("--version", type=int, metavar="N", help="a version number (default: the latest)"),
            ),
        ),
        Command("%prompt models", "The providers and models, and whether their credentials are set."),
        Command("%prompt help", "Print this reference."),
    )
}

EVALUATOR_SPECS = """\
Evaluator specs for --eval: contains:Paris  regex:^\\d+$  json  equals:expected  exact:Paris  length:10-200
                            similarity:expected:0.8  numeric:answer:0.01  judge:"rubric text"
Settings: %config PromptLab lists them (default_model, db_url, concurrency, cache, cost_limit, progress, ...).
"""

ALL_COMMANDS = (TEMPLATE_CELL, PIPELINE_CELL, *SUBCOMMANDS.values())


def reference() -> str:
    """The help of every magic: ``%prompt help`` and ``%prompt?``."""
    return "\n".join(command.parser().format_help() for command in ALL_COMMANDS) + "\n" + EVALUATOR_SPECS


def synopsis() -> str:
    """Each magic's usage and summary: the README's part of the reference."""
    return "\n".join(command.parser().synopsis() for command in ALL_COMMANDS) + "\n" + EVALUATOR_SPECS


def with_help(text: str) -> Callable[[F], F]:
    """Make ``text`` the magic's docstring, which IPython shows for ``%magic?``."""

    def document(magic: F) -> F:
        magic.__doc__ = text
        return magic

    return document


README = Path(__file__).parents[2] / "README.md"
README_START = "<!-- magics synopsis: generated by python -m promptlab_nb.notebook.arguments --readme -->\n```\n"
README_END = "```\n<!-- end of magics synopsis -->"


def readme_with_synopsis(readme: str) -> str:
    """``readme`` with the text between the synopsis markers replaced by the current synopsis."""
    before, start, rest = readme.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not (start and end):
        raise ValueError(f"README.md has no synopsis markers ({README_START.splitlines()[0]}).")
    return before + start + synopsis() + end + after


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as error:
        raise UsageError(f"Could not read the options ({error}); check the quotes.") from None


def parse_value(text: str) -> Any:
    """JSON where it reads as JSON (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: Sequence[str] | None) -> list[dict[str, Any]]:
    """``-p key=value`` options as parameter sets: a key given twice makes a variant per value."""
    values: dict[str, list[Any]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-p takes key=value, e.g. -p temperature=0.2; got {pair!r}.")
        values.setdefault(key.strip().replace("-", "_"), []).append(parse_value(value))
    if not values:
        return []
    keys = list(values)
    return [dict(zip(keys, combination, strict=True)) for combination in itertools.product(*values.values())]


def split_models(options: Sequence[str] | None) -> list[str]:
    return [model.strip() for option in options or [] for model in option.split(",") if model.strip()]


if __name__ == "__main__":
    if sys.argv[1:] != ["--readme"]:
        sys.exit("usage: python -m promptlab_nb.notebook.arguments --readme  (rewrites the synopsis in README.md)")
    README.write_text(readme_with_synopsis(README.read_text()))
