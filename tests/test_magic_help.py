"""The magics' help: %prompt?, %%prompt?, %%pipeline?, %prompt help and the README, from one set of declarations."""

from __future__ import annotations

import inspect
import re

import pytest
from IPython.core.error import UsageError

from promptlab_nb.notebook import arguments

REGENERATE = "python -m promptlab_nb.notebook.arguments --readme"


def test_question_mark_and_prompt_help_show_the_same_reference_of_every_subcommand(notebook_shell, capsys):
    # When a user asks for help with %prompt?, %%prompt? and %prompt help
    line_help = notebook_shell.object_inspect("%prompt")["docstring"]
    cell_help = notebook_shell.object_inspect("%%prompt")["docstring"]
    capsys.readouterr()
    notebook_shell.run_line_magic("prompt", "help")
    printed = capsys.readouterr().out
    # Then all three show one text, which gives each subcommand's usage and what its options do
    assert line_help == cell_help == inspect.cleandoc(printed)
    for command in (arguments.TEMPLATE_CELL, *arguments.SUBCOMMANDS.values()):
        assert command.parser().format_usage() in line_help, f"{command.prog} is missing from %prompt?"
    assert "--no-refresh  list without asking the providers" in line_help
    assert re.search(r"\n +V1 +a version number\n", line_help)


def test_pipeline_question_mark_shows_its_usage_and_options(notebook_shell):
    # When a user asks for help with %%pipeline?
    shown = notebook_shell.object_inspect("%%pipeline")["docstring"]
    # Then the usage and the option's meaning are there
    assert shown.startswith("%%pipeline [--description TEXT] NAME")
    assert "--description TEXT  shown in lists and on the card" in shown


def test_each_documented_subcommand_is_the_one_that_reads_the_line(notebook_shell):
    # Given the subcommands the reference documents
    documented = set(arguments.SUBCOMMANDS)
    # When a user types an unknown subcommand, then the list offered is the documented one
    with pytest.raises(UsageError) as unknown:
        notebook_shell.run_line_magic("prompt", "bogus")
    offered = unknown.value.args[0].partition("use one of: ")[2].rstrip(".").split(", ")
    assert set(offered) == documented
    # And a mistake in each subcommand is reported by that subcommand's declared parser
    for name in documented:
        with pytest.raises(UsageError, match=f"^%prompt {name}: "):
            notebook_shell.run_line_magic("prompt", f"{name} --no-such-option")


def test_the_readme_shows_the_generated_synopsis_of_the_magics():
    # Given the README and the declarations of the magics
    readme = arguments.README.read_text()
    # When the synopsis is generated again
    regenerated = arguments.readme_with_synopsis(readme)
    # Then the README already holds it
    assert readme == regenerated, f"README.md's magics synopsis is out of date; regenerate it with {REGENERATE}"


def test_regenerating_the_readme_replaces_a_hand_edit_and_keeps_the_rest():
    # Given a README whose synopsis was edited by hand
    text = f"intro\n{arguments.README_START}%prompt list | show NAME\n{arguments.README_END}\noutro\n"
    # When it is regenerated
    regenerated = arguments.readme_with_synopsis(text)
    # Then the synopsis is the generated one and the text around it is kept
    assert regenerated == f"intro\n{arguments.README_START}{arguments.synopsis()}{arguments.README_END}\noutro\n"
