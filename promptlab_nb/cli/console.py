"""What every command shares: the store option, opening the Lab, and user mistakes as one line with exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from promptlab_nb._lab import Lab
    from promptlab_nb.core.config import PromptLab

USAGE_ERROR = 2
CHECK_FAILED = 1
CommandT = TypeVar("CommandT", bound=Callable[..., Any])

store_option = click.option(
    "--store",
    metavar="URL",
    envvar="PROMPTLAB_URL",
    help="The store: a DuckDB file or a postgresql+psycopg:// URL [env PROMPTLAB_URL; default ./promptlab.duckdb].",
)


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def fail(message: str) -> None:
    """Print ``message`` as one line on stderr and exit 2."""
    click.echo(f"Error: {one_line(message)}", err=True)
    sys.exit(USAGE_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """A domain error (PromptLabError) becomes one line on stderr and exit 2."""
    from promptlab_nb.core.errors import PromptLabError

    try:
        yield
    except PromptLabError as error:
        fail(str(error))


def reports_user_errors(command: CommandT) -> CommandT:
    @wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return command(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def lab_settings(*, progress: bool = False) -> PromptLab:
    """The settings, with the progress bar only where asked (they default to showing it)."""
    from promptlab_nb.core.config import PromptLab

    settings = PromptLab()
    settings.progress = progress
    return settings


def open_lab(store: str | None, settings: PromptLab | None = None) -> Lab:
    """The Lab on ``store`` (opening it creates a DuckDB file: open it once the input has been checked)."""
    from promptlab_nb._lab import Lab

    return Lab(store or None, settings=settings or lab_settings())


def write_text(path: str, content: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
    except OSError as error:
        fail(f"{path} could not be written: {error.strerror or error}.")
