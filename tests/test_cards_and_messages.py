"""What a notebook user reads: template cards, error messages and which model answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from magic_support import notebook_display, printed_error

import promptlab_nb as pl
from promptlab_nb.display.cards import CARDS

FORMAL = "{% if formal %}Dear {{ name }},{% else %}Hi {{ name }}!{% endif %}"


@pytest.fixture
def shell_without_model(store_url, monkeypatch) -> Iterator:
    """An IPython shell with the extension loaded on a fresh store, and no default model chosen."""
    from IPython.testing import globalipapp

    monkeypatch.delenv("PROMPTLAB_MODEL", raising=False)
    globalipapp.start_ipython()
    shell = globalipapp.get_ipython()
    chosen = shell.config.PromptLab.pop("default_model", None)
    shell.run_line_magic("load_ext", "promptlab_nb")
    shell.run_line_magic("config", f'PromptLab.db_url = "{store_url}"')
    names_before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "promptlab_nb")
    if chosen is not None:
        shell.config.PromptLab.default_model = chosen
    for name in set(shell.user_ns) - names_before:
        shell.user_ns.pop(name, None)


def test_a_template_card_wraps_long_lines_between_words_not_inside_them(notebook_shell):
    # Given a template with a long line of prose
    body = "Explain the problem " * 30 + "{{ text }}"
    # When its cell is saved and the card is shown
    card = notebook_shell.run_cell_magic("prompt", "explain", body)._repr_html_()
    # Then the body's box overrides the output area's break-all: words are kept whole
    assert "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word" in card


def test_an_unknown_eval_spec_lists_each_valid_form_on_its_own_line(notebook_shell, capsys):
    # Given a template and data
    notebook_shell.run_cell_magic("prompt", "capital", "Capital of {{ country }}?")
    notebook_shell.user_ns["countries"] = [{"country": "France"}]
    # When the user misspells an evaluator
    text = printed_error(notebook_shell, "%prompt run capital --on countries --eval contain:Paris", capsys)
    # Then the message names the spec and lists one valid form per line
    lines = text.splitlines()
    assert "Unknown evaluator 'contain:Paris'; write one of these forms:" in lines[0]
    assert "  contains:Paris (case-insensitive; contains_case:Paris is case-sensitive)" in lines
    assert "  regex:^\\d+$" in lines and '  judge:"The answer is polite."' in lines
    assert '  pairwise:"The more helpful answer wins."' in lines
    assert len(lines) == 14


def test_a_misspelt_pipeline_key_is_named_with_the_key_meant(notebook_shell, capsys):
    # Given a saved template
    notebook_shell.run_cell_magic("prompt", "capital", "Capital of {{ country }}?")
    # When a pipeline step misspells "template", or the pipeline misspells "steps"'s neighbour "inputs"
    step = printed_error(notebook_shell, "%%pipeline p\n- templat: capital\n  output: city\n", capsys)
    top = printed_error(notebook_shell, "%%pipeline p\nsteps:\n- template: capital\ninptus: [country]\n", capsys)
    # Then each error names the key and the one meant, and nothing is saved
    assert "unknown key 'templat' (did you mean 'template'?)" in step
    assert "unknown key 'inptus' (did you mean 'inputs'?)" in top
    assert pl.current_lab().pipelines.list().empty


def test_template_and_yaml_errors_name_the_line_the_editor_shows(notebook_shell, capsys):
    # Given cells whose third editor line (the magic line is line 1) is wrong
    template = printed_error(notebook_shell, "%%prompt broken\nsystem:\nHello {{ name }\n", capsys)
    pipeline = printed_error(notebook_shell, "%%pipeline p\n- template: capital\n  output: [x\n", capsys)
    # When / Then the errors point at the editor's lines
    assert "Template 'broken' is not valid (line 3)" in template
    assert "at line 4, column 1" in pipeline


def test_a_variable_only_tested_in_if_is_optional_on_the_card_and_for_run(notebook_shell, capsys):
    # Given a template that tests `formal` and prints `name`
    card = notebook_shell.run_cell_magic("prompt", "greet", FORMAL)
    # Then the card lists `formal` as optional and `name` as a variable
    assert "variables: name" in repr(card) and "optional: formal (false when not given)" in repr(card)
    # When it is run with only `name` defined in the notebook
    notebook_shell.user_ns["name"] = "Ada"
    capsys.readouterr()
    experiment = notebook_shell.run_cell_magic("prompt", "greet --run", FORMAL)
    # Then the run takes the else branch; defining `formal` takes the other
    assert experiment.runs["output"].tolist() == ["Hi Ada!"]
    notebook_shell.user_ns["formal"] = True
    assert notebook_shell.run_cell_magic("prompt", "greet --run", FORMAL).runs["output"].tolist() == ["Dear Ada,"]


def test_with_no_model_configured_the_card_and_the_first_run_name_the_model(shell_without_model, capsys):
    # Given a kernel where no default model was chosen
    shell = shell_without_model
    shell.user_ns["rows"] = [{"country": "France"}]
    # When a template without a model is saved and run twice
    card = shell.run_cell_magic("prompt", "capital", "Capital of {{ country }}?")
    capsys.readouterr()
    shell.run_line_magic("prompt", "run capital --on rows")
    first = capsys.readouterr().out
    shell.run_line_magic("prompt", "run capital --on rows")
    second = capsys.readouterr().out
    # Then the card and the first run say mock:echo answers and how to choose a model; the second run is quiet
    hint = '%config PromptLab.default_model = "provider:model"'
    assert f"model: mock:echo (no model configured: choose one with {hint})" in repr(card)
    assert "mock:echo" in card._repr_html_() and "PromptLab.default_model" in card._repr_html_()
    assert f"Answering with mock:echo: no model is configured; choose one with {hint}." in first
    assert "Answering with" not in second


def test_a_lab_opened_in_a_notebook_shows_templates_pipelines_and_diffs_as_cards(notebook_shell, store_url):
    # Given a kernel whose shell shows no cards yet
    for formatter in ("text/plain", "text/html"):
        for kind in CARDS:
            notebook_shell.display_formatter.formatters[formatter].type_printers.pop(kind, None)
    # When a Lab is opened there and the Python API saves a template, a pipeline and a new version
    lab = pl.Lab(store_url)
    template = lab.templates.save("greet", "Hi {{ name }}!", model="mock:echo")
    pipeline = lab.pipelines.save("welcome", [{"template": "greet", "output": "greeting"}])
    lab.templates.save("greet", "Hello {{ name }}!", model="mock:echo")
    diff = lab.templates.diff("greet", 1, 2)
    # Then each displays as its card, in text and in HTML
    template_text, template_html = notebook_display(notebook_shell, template)
    assert template_text.startswith("template greet v1") and "variables: name" in template_text
    assert "<b>template greet</b>" in template_html
    assert "greet -> greeting" in notebook_display(notebook_shell, pipeline)[0]
    diff_text, diff_html = notebook_display(notebook_shell, diff)
    assert "+Hello {{ name }}!" in diff_text and "v1 &rarr; v2" in diff_html
