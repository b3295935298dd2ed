"""Parsing what follows %prompt and %%prompt: argparse that reports mistakes as one line."""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
from collections.abc import Sequence
from typing import Any

from IPython.core.error import UsageError


class MagicArgumentParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, add_help=False, exit_on_error=False, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}. See %prompt help.")

    def parse(self, words: Sequence[str]) -> argparse.Namespace:
        try:
            return self.parse_args(list(words))
        except argparse.ArgumentError as error:
            self.error(str(error))


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


def add_run_options(parser: MagicArgumentParser) -> None:
    parser.add_argument("--on", dest="data", help="a DataFrame, list of dicts or file path in the notebook")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--eval", dest="evaluators", action="append", default=[])
    parser.add_argument("--name")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--no-cache", dest="cache", action="store_false", default=None)
    parser.add_argument("--yes", dest="confirm", action="store_true", help="run even above the cost limit")
    parser.add_argument("--batch", action="store_true", help="send through the providers' batch APIs")


def template_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%%prompt")
    parser.add_argument("template_name", metavar="NAME")
    parser.add_argument("--model")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("-p", dest="params", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--schema", help="a JSON schema dict in the notebook")
    parser.add_argument("--description")
    parser.add_argument("--run", action="store_true", help="run once with variables from the notebook")
    add_run_options(parser)
    return parser


def pipeline_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%%pipeline")
    parser.add_argument("pipeline_name", metavar="NAME")
    parser.add_argument("--description")
    return parser


def run_parser(command: str) -> MagicArgumentParser:
    parser = MagicArgumentParser(prog=f"%prompt {command}")
    parser.add_argument("targets", nargs="+" if command == "compare" else 1, metavar="NAME")
    parser.add_argument("--model", "--models", dest="models", action="append")
    parser.add_argument("-p", dest="params", action="append", default=[])
    add_run_options(parser)
    return parser


def batches_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%prompt batches")
    parser.add_argument("--no-refresh", dest="refresh", action="store_false", default=True)
    return parser


def named_parser(command: str, *positionals: str, version: bool = False) -> MagicArgumentParser:
    parser = MagicArgumentParser(prog=f"%prompt {command}")
    for name in positionals:
        parser.add_argument(name.lower(), metavar=name, type=int if name.startswith("V") else str)
    if version:
        parser.add_argument("--version", type=int)
    return parser


def runs_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%prompt runs")
    parser.add_argument("--experiment")
    return parser


def no_arguments_parser(command: str) -> MagicArgumentParser:
    return MagicArgumentParser(prog=f"%prompt {command}")
