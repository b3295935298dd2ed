"""A shareable report: one HTML file per experiment with the widget's view computed in the page, and the
tidy export of runs, scores and ratings. What the file holds is checked here; what a browser does with
it, in tests/test_report_browser.py."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.core.errors import InvalidData
from promptlab_nb.display.report import FRONT_END
from promptlab_nb.notebook.widget_diff import word_diff

COUNTRIES = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Atlantis"],
        "expected": ["Paris", "Tokyo", "Lima", "Poseidonia"],
    }
)
CLOSING_SCRIPT = "</script><script>window.pwned = 1</script>"
STRONG, WEAK = "capital@1 | mock:strong", "capital@1 | mock:weak"
REQUESTING_MARKUP = re.compile(r"""(?:src|href|action)\s*=|url\(|@import|https?://""", re.IGNORECASE)


@pytest.fixture
def capitals(lab):
    pl.mock_model("strong", {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "*": CLOSING_SCRIPT})
    pl.mock_model("weak", {"france": "Paris", "japan": "Kyoto", "peru": "Lima", "*": "no idea"})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"], COUNTRIES, models=["mock:strong", "mock:weak"], evaluators=["equals:expected"], progress=False
    )


def embedded_data(html: str) -> dict:
    """The JSON the page's script reads, parsed as the browser parses it."""
    found = re.search(r'<script type="application/json" id="pl-report-[0-9a-f]+-data">(.*?)</script>', html, re.S)
    assert found, "the report embeds no data"
    return json.loads(found.group(1))


def cells_by_output(data: dict) -> dict[str, dict]:
    return {
        cell[data["cell_fields"].index("output")]: dict(zip(data["cell_fields"], cell, strict=False))
        for row in data["rows"]
        for cell in row[2]
    }


def test_a_report_is_one_file_with_the_summary_the_rows_and_no_request(capitals, tmp_path):
    # Given a compared experiment, one of its runs rated
    runs = capitals.runs
    kyoto = runs.loc[runs["output"] == "Kyoto", "run_id"].iloc[0]
    capitals.rate(kyoto, -1, "old capital")

    # When the user writes its report
    path = capitals.report(tmp_path / "capitals.html")

    # Then the file holds the summary with CIs, every row and the cells' scores, reasons and rating
    html = path.read_text(encoding="utf-8")
    data = embedded_data(html)
    assert [variant["variant"] for variant in data["summary"]] == [STRONG, WEAK]
    assert data["summary"][0]["scores"][0]["name"] == "equals:expected"
    assert [bar["text"].split(" ")[0] for bar in data["chart"][0]["bars"]] == ["0.75", "0.50"]
    assert [row[1][0] for row in data["rows"]] == ["France", "Japan", "Peru", "Atlantis"]
    cell = cells_by_output(data)["Kyoto"]
    assert (cell["scores"], cell["reasons"], cell["rating"], cell["rating_note"]) == (
        [0.0],
        ["expected 'Tokyo' (expected)"],
        -1,
        "old capital",
    )
    assert data["notice"] == ""
    # And it asks for nothing outside itself: no link, source, import or URL
    assert REQUESTING_MARKUP.findall(html) == []
    assert "default-src 'none'" in html


def test_an_output_that_closes_the_script_stays_data_in_the_file(capitals, tmp_path):
    # Given an experiment whose model answered with a closing script tag
    # When its report is written
    html = capitals.report(tmp_path / "capitals.html").read_text(encoding="utf-8")

    # Then the answer never appears as markup, and the embedded JSON gives it back intact
    assert CLOSING_SCRIPT not in html
    assert "&lt;/script&gt;&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert CLOSING_SCRIPT in cells_by_output(embedded_data(html))


def test_a_report_beyond_max_rows_says_which_rows_it_left_out(capitals, tmp_path):
    # Given an experiment of four data rows
    # When its report is limited to two rows
    html = capitals.report(tmp_path / "capitals.html", max_rows=2).read_text(encoding="utf-8")

    # Then it holds the first two rows and says the other two are left out
    data = embedded_data(html)
    assert [row[0] for row in data["rows"]] == [0, 1]
    assert data["notice"].startswith(
        "The grid shows the first 2 of 4 data rows: the 2 rows of index 2 to 3 are left out"
    )
    assert "left out" in html.split('<script type="application/json"')[0]


def test_a_report_reads_its_rows_a_page_at_a_time(capitals, tmp_path, monkeypatch):
    # Given the store read one data row per page
    from promptlab_nb.services import report_rows

    monkeypatch.setattr(report_rows, "READ_PAGE_ROWS", 1)

    # When the report is written
    data = embedded_data(capitals.report(tmp_path / "capitals.html", max_rows=3).read_text(encoding="utf-8"))

    # Then each of the three rows holds its own two cells
    assert [(row[0], len(row[2])) for row in data["rows"]] == [(0, 2), (1, 2), (2, 2)]


def test_a_report_of_no_rows_or_into_a_missing_folder_is_refused_in_one_line(capitals, tmp_path):
    # Given a compared experiment
    # When the user asks for a report of no rows, or into a folder that does not exist
    # Then each is refused with what to do, and no file is written
    with pytest.raises(InvalidData, match="max_rows must be 1 or more"):
        capitals.report(tmp_path / "capitals.html", max_rows=0)
    with pytest.raises(InvalidData, match="create it first"):
        capitals.report(tmp_path / "missing" / "capitals.html")
    assert list(tmp_path.glob("*.html")) == []


def test_the_report_magic_writes_the_file_named_after_the_experiment(notebook_shell, tmp_path):
    # Given an experiment run from the notebook
    notebook_shell.run_cell_magic("prompt", "capital_of", "Capital of {{ country }}?")
    notebook_shell.user_ns["countries"] = COUNTRIES
    notebook_shell.run_line_magic("prompt", "run capital_of --on countries --name capitals")

    # When the user asks for its report, then for one of two rows in a file of their choice
    notebook_shell.run_line_magic("prompt", "report capitals")
    link = notebook_shell.run_line_magic("prompt", f"report capitals --out {tmp_path / 'two.html'} --max-rows 2")

    # Then both files are written, the second with two rows
    assert len(embedded_data((tmp_path / "capitals.html").read_text(encoding="utf-8"))["rows"]) == 4
    assert len(embedded_data(Path(link.path).read_text(encoding="utf-8"))["rows"]) == 2


def test_a_displayed_experiment_without_a_kernel_shows_the_report_view_and_a_static_table(capitals):
    # Given a compared experiment
    # When it is displayed where there is no kernel
    bundle, _ = capitals._repr_mimebundle_()

    # Then its HTML holds the report's data and script, and a static summary and table that read without them
    html = bundle["text/html"]
    assert len(embedded_data(html)["rows"]) == 4
    assert '<script type="module">' in html and "bootReport(" in html
    static = html.split('<script type="application/json"')[0]
    assert "summary" in static and "Kyoto" in static and "✗ equals:expected" in static


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_export_writes_one_row_per_run_with_a_column_per_score_and_the_ratings(capitals, tmp_path, suffix):
    # Given an experiment scored by one evaluator, with one run rated
    runs = capitals.runs
    capitals.rate(runs["run_id"].iloc[0], 1, "right")

    # When the user exports it
    path = capitals.export(tmp_path / f"runs{suffix}")

    # Then the file has a row per run, the score and rating columns, and the inputs as JSON text
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".jsonl": lambda p: pd.read_json(p, lines=True)}
    exported = readers[suffix](path)
    assert len(exported) == len(runs) == 8
    assert {"variant", "row_index", "output", "country", "equals:expected", "rating", "rating_note"} <= set(exported)
    assert exported["rating"].notna().sum() == 1 and exported["equals:expected"].sum() == 5
    if suffix != ".jsonl":
        assert json.loads(exported["inputs"].iloc[0]) == {"country": "France", "expected": "Paris"}


def test_export_of_an_experiment_nobody_rated_still_has_the_rating_columns(capitals, tmp_path):
    # Given an experiment nobody rated
    # When it is exported
    exported = pd.read_csv(capitals.export(tmp_path / "runs.csv"))
    # Then the rating columns are there, empty
    assert {"rating", "rating_note"} <= set(exported) and exported["rating"].isna().all()


def diff_cases() -> list[tuple[str, str]]:
    words = "the cat sat on a mat , and then it ran away ; über café 東京 naïve 42 _x".split()
    shuffled = random.Random(7)
    random_texts = [" ".join(shuffled.choice(words) for _ in range(shuffled.randint(0, 40))) for _ in range(60)]
    long_text = " ".join(words * 80)
    return [
        ("Paris is the capital", "Lyon is the capital"),
        ("", "something new"),
        ("a  b\n\nc", "a b c"),
        (long_text, long_text.replace("mat", "rug")),
        *zip(random_texts[::2], random_texts[1::2], strict=True),
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the page's script")
def test_the_page_diffs_words_exactly_as_the_widget_does():
    # Given pairs of texts, some long, some with accents, CJK and punctuation
    cases = diff_cases()
    script = f"const CASES = {json.dumps(cases)};\n" + (FRONT_END / "local_view.js").read_text(encoding="utf-8")
    # When the report's script and the widget's Python diff each of them
    printed = subprocess.run(
        [shutil.which("node"), "-e", script + "\nconsole.log(JSON.stringify(CASES.map(([a, b]) => wordDiff(a, b))));"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # Then both give the same segments
    assert json.loads(printed) == [[list(segment) for segment in word_diff(a, b)] for a, b in cases]


def test_no_script_of_the_page_parses_text_as_html():
    # Given every script the report and the widget are built from
    # When they are read
    scripts = {path.name: path.read_text(encoding="utf-8") for path in FRONT_END.glob("*.js")}
    # Then none hands a string to an HTML parser or to eval
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc")
    assert {name: [sink for sink in sinks if sink in script] for name, script in scripts.items()} == {
        name: [] for name in scripts
    }
    assert set(scripts) >= {"comparison.js", "local_view.js", "report_boot.js"}
