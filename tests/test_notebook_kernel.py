"""The magics in a real kernel: what a saved notebook would store for each cell."""

from __future__ import annotations

import re

import nbformat
from nbclient import NotebookClient


def execute(cells: list[str], tmp_path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return notebook


def outputs_of(cell) -> dict[str, str]:
    """mime type -> text of everything a cell displayed (streams under 'stream')."""
    found: dict[str, str] = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            found["stream"] = found.get("stream", "") + output.text
        elif output.output_type == "error":
            found["error"] = f"{output.ename}: {output.evalue}"
        else:
            for mime, data in output.get("data", {}).items():
                found[mime] = found.get(mime, "") + (data if isinstance(data, str) else str(data))
    return found


def test_a_notebook_session_stores_cards_tables_and_one_line_errors(tmp_path, store_url):
    notebook = execute(
        [
            "%load_ext promptlab_nb",
            f'%config PromptLab.db_url = "{store_url}"\n%config PromptLab.default_model = "mock:echo"',
            "%%prompt capital --temperature 0.2\nsystem:\nYou are terse.\nuser:\nCapital of {{ country }}?",
            "import pandas as pd\ncountries = pd.DataFrame({'country': ['France', 'Japan']})",
            "exp = %prompt compare capital --on countries --eval contains:France --name demo\nexp",
            "%prompt bogus",
            "import promptlab_nb as pl\npl.lab().experiment('demo').runs[['country', 'output']]",
        ],
        tmp_path,
    )
    card, compare, mistake, frame = (outputs_of(notebook.cells[index]) for index in (2, 4, 5, 6))
    assert "template capital v1" in card["text/plain"]
    assert "promptlab-card" in card["text/html"] and "Capital of {{ country }}?" in card["text/html"]
    assert "experiment demo: 1 variant x 2 rows x 1 repeat, completed (2 ok)" in compare["text/plain"]
    assert "Capital of France?" in compare["text/html"]
    assert "UsageError: Unknown subcommand 'bogus'" in mistake["stream"]
    assert "Capital of Japan?" in frame["text/plain"]


def test_a_stored_table_of_runs_shows_dollar_amounts_as_text_not_math(tmp_path, store_url):
    # Given a notebook whose data and outputs hold dollar amounts
    notebook = execute(
        [
            "%load_ext promptlab_nb",
            f'%config PromptLab.db_url = "{store_url}"\n%config PromptLab.default_model = "mock:echo"',
            "%%prompt price\n{{ question }}",
            "import pandas as pd\nquestions = pd.DataFrame({'question': ['$99 divided by 6 is $16.50']})",
            "exp = %prompt run price --on questions --name prices\nexp",
            "exp.runs[['question', 'output']]",
        ],
        tmp_path,
    )
    # When the experiment and its runs are stored as HTML
    experiment, runs = (outputs_of(notebook.cells[index])["text/html"] for index in (4, 5))
    # Then no dollar sign reaches the HTML as a math delimiter (script elements, which MathJax never reads,
    # aside) and the tables are marked for MathJax to skip
    for html in (experiment, runs):
        assert "&#36;99 divided by 6 is &#36;16.50" in html
        assert "$" not in re.sub(r"<script\b.*?</script>", "", html, flags=re.S)
        assert "tex2jax_ignore mathjax_ignore" in html


def test_a_stored_progress_bar_shows_how_the_run_ended(tmp_path, store_url):
    # Given a run of three rows with the progress bar on
    notebook = execute(
        [
            "%load_ext promptlab_nb",
            f'%config PromptLab.db_url = "{store_url}"\n%config PromptLab.default_model = "mock:echo"',
            "%%prompt echo\n{{ word }}",
            "words = [{'word': 'a'}, {'word': 'b'}, {'word': 'c'}]",
            "exp = %prompt run echo --on words --name counted",
        ],
        tmp_path,
    )
    # When the notebook is stored after the run completed
    progress = [output for output in notebook.cells[4].outputs if output.output_type == "display_data"]
    # Then the bar's stored output is its final line, not the widget's first state
    assert progress, notebook.cells[4].outputs
    stored = " ".join(output.data.get("text/plain", "") for output in progress)
    assert "3/3" in stored and "100%" in stored, stored
    assert "0/3" not in stored
    assert not any("application/vnd.jupyter.widget-view+json" in output.data for output in progress)
