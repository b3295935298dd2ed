"""Views computed in the store: the widget's pages, filters, search and sort, and the summary, read with SQL
on DuckDB and PostgreSQL, agree with the same views computed from every run in memory."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
from sqlalchemy import text

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.engine import sink
from promptlab_nb.evaluation.analysis import summary_table
from promptlab_nb.notebook import views
from promptlab_nb.notebook import widget as widget_module
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_state import ComparisonState, GridQuery
from promptlab_nb.services import run_grid

COUNTRIES = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Kenya", "Chile", "Spain", "Italy"],
        "expected": ["Paris", "Tokyo", "Lima", "Nairobi", "Santiago", "Madrid", "Rome"],
        "region": ["europe", "asia", "america", "africa", "america", "europe", "europe"],
    }
)
STEADY = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "kenya": "Nairobi", "*": "I do not know"}


def answers_in_turn(answers: dict[str, list[str]]) -> Callable[[list[dict[str, str]]], str]:
    """The n-th answer about a country is the n-th of its answers; ``"error"`` fails that call."""
    calls: Counter[str] = Counter()

    def respond(messages: list[dict[str, str]]) -> str:
        country = next(name for name in answers if name in messages[-1]["content"])
        answer = answers[country][calls[country] % len(answers[country])]
        calls[country] += 1
        if answer == "error":
            raise errors.BadRequest("the model refused", provider="mock")
        return answer

    return respond


@pytest.fixture
def mixed(lab):
    """Two variants x 7 rows x 2 repeats: answers that differ by repeat, run errors, two evaluators,
    literal % and _ in outputs, and one rating."""
    pl.mock_model("steady", STEADY)
    pl.mock_model(
        "flaky",
        answers_in_turn(
            {
                "France": ["Paris", "Lyon"],
                "Japan": ["Tokyo", "tokyo  "],
                "Peru": ["error", "Lima"],
                "Kenya": ["Nairobi 100%", "Nairobi"],
                "Chile": ["error", "error"],
                "Spain": ["Madrid_city", "Madrid"],
                "Italy": ["Rome", "Rome"],
            }
        ),
    )
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(
        ["capital"],
        COUNTRIES,
        models=["mock:steady", "mock:flaky"],
        repeats=2,
        evaluators=["equals:expected", "contains:a"],
        progress=False,
    )
    runs = experiment.runs
    experiment.rate(runs[runs["output"] == "Lyon"]["run_id"].iloc[0], -1, "wrong city")
    return experiment


QUERIES = [
    GridQuery(page_size=3),
    GridQuery(page_size=3, page=2),
    GridQuery(page_size=3, page=9),
    GridQuery(descending=True),
    GridQuery(errors_only=True),
    GridQuery(failed_check="*"),
    GridQuery(failed_check="contains:a"),
    GridQuery(disagree_only=True),
    GridQuery(search="PARIS"),
    GridQuery(search="europe"),
    GridQuery(search="0%"),
    GridQuery(search="_"),
    GridQuery(search="nowhere"),
    GridQuery(sort_by="score:0:1"),
    GridQuery(sort_by="score:1:1", descending=True),
    GridQuery(errors_only=True, search="lima", sort_by="score:0:0"),
    GridQuery(baseline="variant:0"),
    GridQuery(baseline="input:expected", page_size=2, page=1),
]


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_every_page_filter_search_and_sort_read_from_the_store_shows_what_the_runs_in_memory_show(mixed, query):
    # Given the widget on a stored experiment, and the same grid built in memory from every run
    widget = mixed.widget()
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants)

    # When a page is asked for
    stored_page = widget.state.page(query)

    # Then the store's page is the same page: rows, cells with every repeat, diffs, counts and why it is empty
    assert stored_page == in_memory.page(query)


SEARCHES_IN_RANGES = [
    GridQuery(search="a", page_size=2),
    GridQuery(search="a", page_size=2, page=1),
    GridQuery(search="a", page_size=2, page=2, descending=True),
    GridQuery(search="a", page_size=2, page=9),
    GridQuery(search="europe", page_size=1, page=1),
    GridQuery(search="i", errors_only=True, page_size=1, descending=True),
    GridQuery(search="a", failed_check="contains:a", page_size=1, page=1),
    GridQuery(search="nowhere", page_size=1),
]


@pytest.fixture
def ranges_of_one_row(monkeypatch):
    """Searches read range by range from a range of one data row (or the page and the row after it)."""
    monkeypatch.setattr(run_grid, "FIRST_RANGE_ROWS", 1)
    monkeypatch.setattr(run_grid, "RANGE_GROWTH", 2)


@pytest.mark.parametrize("query", SEARCHES_IN_RANGES, ids=repr)
def test_a_search_page_found_range_by_range_then_counted_shows_what_the_runs_in_memory_show(
    mixed, query, ranges_of_one_row
):
    # Given the widget on a stored experiment, and the same grid built in memory from every run
    widget = mixed.widget()
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants)

    # When a page is found without counting the rows that match, and they are counted when it says so
    stored_page = widget.state.page(query, counted=False)
    if stored_page["counting"]:
        stored_page.update(widget.state.count(query))

    # Then it is the page built from every run, counts included
    assert stored_page == in_memory.page(query)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("page", [0, 1, 2, 5])
def test_rows_whose_outputs_differ_found_range_by_range_are_the_rows_found_reading_every_run(
    mixed, ranges_of_one_row, page, descending
):
    # Given the grid of a stored experiment, filtered on outputs that differ between variants
    state = mixed.widget().state
    source, size = state.source, state.size
    grid = run_grid.GridFilter(disagree_on=(), descending=descending)

    # When a page of two rows is found range by range, and by reading every run
    in_ranges = source.page(grid, size, page, 2, counted=False)
    read_whole = source.page(grid, size, page, 2)

    # Then both give the same rows and page, and the count once every row was read or the page was not last
    assert in_ranges[1:3] == read_whole[1:3]
    assert in_ranges[3] in (None, read_whole[3])


STATUS_AND_SCORE_VIEWS = [
    GridQuery(errors_only=True, page_size=1),
    GridQuery(errors_only=True, page_size=1, page=1, descending=True),
    GridQuery(errors_only=True, page_size=1, page=9),
    GridQuery(failed_check="*", page_size=2),
    GridQuery(failed_check="equals:expected", page_size=2, page=1),
    GridQuery(disagree_only=True, page_size=2),
    GridQuery(disagree_only=True, page_size=2, page=1, descending=True),
    GridQuery(sort_by="score:0:1", page_size=1),
    GridQuery(sort_by="score:0:1", page_size=1, page=3),
    GridQuery(sort_by="score:0:1", page_size=2, page=1, descending=True),
    GridQuery(sort_by="score:1:0", page_size=1, page=2, descending=True),
    GridQuery(sort_by="score:0:0", page_size=3),
    GridQuery(sort_by="score:1:1", page_size=3, page=1, descending=True),
    GridQuery(sort_by="score:0:1", page_size=3, page=2),
    GridQuery(sort_by="score:0:0", failed_check="contains:a", page_size=1),
    GridQuery(sort_by="score:1:1", errors_only=True, page_size=1, descending=True),
    GridQuery(sort_by="score:0:1", disagree_only=True, page_size=2),
]


@pytest.mark.parametrize("query", STATUS_AND_SCORE_VIEWS, ids=repr)
def test_the_first_status_or_score_view_found_before_the_cell_index_then_counted_shows_what_the_runs_show(
    mixed, query, ranges_of_one_row
):
    # Given a freshly opened widget on a stored experiment (ties in every score), and the grid built in memory
    state = mixed.widget().state
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants)

    # When its first filter or sort on statuses or scores shows a page, then counts the rows when it says so
    stored_page = state.page(query, counted=False)
    index_read_for_the_page = state.source.cells is not None
    if stored_page["counting"]:
        stored_page.update(state.count(query))

    # Then it is the page built from every run, and a page left counting was found without the cell index
    assert stored_page == in_memory.page(query)
    assert not (index_read_for_the_page and stored_page["counting"])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("page", [0, 2, 5])
def test_a_row_without_a_run_of_the_sorted_variant_comes_after_the_scored_rows_before_the_cell_index(
    mixed, ranges_of_one_row, page, descending
):
    # Given an experiment whose second variant has no runs left on two rows (France, Kenya)
    variant_id = mixed.record.variants[1].id
    with mixed.database.connection() as connection:
        runs = "select id from run where experiment_id = :id and variant_id = :variant and row_index in (0, 3)"
        connection.execute(text(f"delete from score where run_id in ({runs})"), {"id": mixed.id, "variant": variant_id})
        connection.execute(text(runs.replace("select id", "delete")), {"id": mixed.id, "variant": variant_id})
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants)
    query = GridQuery(sort_by="score:0:1", page_size=1, page=page, descending=descending)

    # When a freshly opened widget sorts by that variant's score, and counts when it says so
    state = mixed.widget().state
    stored_page = state.page(query, counted=False)
    if stored_page["counting"]:
        stored_page.update(state.count(query))

    # Then it is the page built from every run: the rows without that score last
    assert stored_page == in_memory.page(query)


@contextmanager
def background_busy() -> Iterator[None]:
    """The widgets' background work waits until the block ends."""
    busy = threading.Event()
    widget_module.BACKGROUND.submit(busy.wait, 30)
    try:
        yield
    finally:
        busy.set()


def two_rows_a_page(experiment) -> ComparisonWidget:
    widget = experiment.widget()
    widget.page_size = 2
    return widget


def test_the_first_status_filter_reads_no_cell_index_before_its_page_and_the_count_reads_it_after(mixed):
    # Given the widget of an experiment, two rows a page
    widget = two_rows_a_page(mixed)

    # When the user keeps the rows that failed a check while the background work is busy, then it resumes
    with background_busy():
        widget.failed_check = "*"
        first = dict(widget.view)
        index_before_count = widget.state.source.cells
    counted = widget.wait_for_count(timeout=30)

    # Then the first page was shown before the cell index was read, which came with the count
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants).page(GridQuery(failed_check="*", page_size=2))
    assert (first["counting"], first["matching"], index_before_count) == (True, None, None)
    assert first["rows"] == in_memory["rows"]
    assert counted and (widget.view["counting"], widget.view["matching"]) == (False, in_memory["matching"])
    assert widget.state.source.cells is not None


def test_a_search_shows_its_first_page_before_the_rows_that_match_are_counted(mixed, ranges_of_one_row):
    # Given the widget of an experiment, two rows a page
    widget = two_rows_a_page(mixed)

    # When the user searches for "a" (in every one of the 7 rows) while the background work is busy,
    # then it resumes
    with background_busy():
        widget.search = "a"
        first = dict(widget.view)
    counted = widget.wait_for_count(timeout=30)

    # Then the first page was shown with its count still to come, then the count came
    assert [dict(row["inputs"])["country"] for row in first["rows"]] == ["France", "Japan"]
    assert (first["counting"], first["matching"], first["page_count"]) == (True, None, 2)
    assert counted and (widget.view["counting"], widget.view["matching"], widget.view["page_count"]) == (False, 7, 4)
    assert widget.view["rows"] == first["rows"]


def test_a_search_matches_percent_and_underscore_literally(mixed):
    # Given the widget of an experiment where one answer has "100%" and another "Madrid_city"
    widget = mixed.widget()

    # When the user searches for "0%" and then for "d_c"
    widget.search = "0%"
    percent = [dict(row["inputs"])["country"] for row in widget.view["rows"]]
    widget.search = "d_c"
    underscore = [dict(row["inputs"])["country"] for row in widget.view["rows"]]

    # Then only the rows with those very characters are left
    assert (percent, underscore) == (["Kenya"], ["Spain"])


@pytest.mark.parametrize(
    ("search", "found"), [("ΣΊΣΥΦΟΣ", ["Greece"]), ("σίσυφος", ["Greece"]), ("\\temp", ["Windows"])]
)
def test_a_search_finds_other_scripts_in_any_case_and_a_backslash_literally(lab, search, found):
    # Given the widget of an experiment whose answers are in Greek, hold a backslash, or neither
    pl.mock_model("lettered", {"greece": "Ο Σίσυφος", "windows": "C:\\temp\\notes", "*": "nothing"})
    lab.templates.save("where", "Where is {{ place }}?", model="mock:lettered")
    places = pd.DataFrame({"place": ["Greece", "Windows", "Peru"]})
    experiment = lab.run("where", places, progress=False)
    widget = ComparisonWidget.from_experiment(experiment)

    # When the user searches
    widget.search = search

    # Then the rows whose answer has the text are left, as in the grid computed in memory
    assert [dict(row["inputs"])["place"] for row in widget.view["rows"]] == found
    in_memory = ComparisonState.from_runs(experiment.runs, experiment.variants)
    assert widget.state.page(widget.query) == in_memory.page(widget.query)


@pytest.mark.parametrize("cluster", [None, "region"])
def test_the_summary_computed_in_the_store_equals_the_summary_of_every_run(mixed, cluster):
    # Given an experiment with repeats, run errors, two evaluators and a rating
    runs = mixed.runs

    # When its summary is computed in the store
    summary = mixed.summary(cluster)

    # Then it is the summary of every run computed in memory
    expected = summary_table(runs, runs.attrs["evaluators"], cluster)
    assert list(summary.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


def test_a_summary_clustered_by_a_run_column_says_which_data_column_to_use(mixed):
    # Given an experiment whose data has a column named like a run column
    with pytest.raises(errors.InvalidData, match="Cluster by a data column"):
        # When the summary is clustered by the run column "status"
        mixed.summary(cluster="status")
    # Then the error says so; and a data column that does not exist is named as missing
    with pytest.raises(errors.InvalidData, match="No data column 'continent'"):
        mixed.summary(cluster="continent")


def test_a_large_experiment_shows_its_first_page_then_its_summary(mixed, monkeypatch):
    # Given an experiment above the size whose summary the widget computes after the first page
    monkeypatch.setattr(widget_module, "SUMMARY_AFTER_PAGE_RUNS", 1)

    # When the widget opens and its summary is ready
    widget = ComparisonWidget.from_experiment(mixed)
    first_rows = widget.view["rows"]
    ready = widget.wait_for_summary(timeout=30)

    # Then the page was there at once, and the header holds every variant's summary
    assert len(first_rows) == 7 and ready
    assert [row["variant"] for row in widget.summary] == mixed.variants
    assert [chart["evaluator"] for chart in widget.chart] == ["equals:expected", "contains:a"]


@pytest.mark.postgres
def test_runs_written_in_bulk_refresh_the_postgresql_planner_statistics(postgresql_url, monkeypatch):
    # Given a PostgreSQL store whose run table was never analysed, and a sink that analyses every 4 runs
    monkeypatch.setattr(sink, "ANALYZE_EVERY_RUNS", 4)
    lab = pl.Lab(postgresql_url)
    pl.mock_model("steady", STEADY)
    lab.templates.save("capital", "What is the capital of {{ country }}?")

    # When an experiment of 7 runs is run
    lab.run("capital", COUNTRIES, model="mock:steady", evaluators=["equals:expected"], progress=False)

    # Then the planner knows the run and score tables hold those runs and scores
    with lab.db.connection() as connection:
        counted = dict(
            connection.execute(
                text(
                    "select relname, reltuples from pg_class where relname in ('run', 'score') "
                    "and relnamespace = current_schema()::regnamespace"
                )
            ).all()
        )
    lab.close()
    assert counted == {"run": 7, "score": 7}


def test_the_runs_listing_shows_a_page_read_from_the_store_and_becomes_the_whole_frame_when_used(mixed):
    # Given an experiment of 28 runs listed three at a time, as `%prompt runs` lists them
    listing = views.runs_view(mixed, 3)

    # When it is shown, counted, and used as a DataFrame
    html = listing._repr_html_()
    outputs = listing["output"]

    # Then it shows the first three runs and says how many more there are, counts every run, and used as a
    # DataFrame it is exp.runs
    assert html.count("<tr>") == 3 and "… 25 more rows" in html
    assert len(listing) == 28
    assert outputs.tolist() == mixed.runs["output"].tolist()


@pytest.mark.parametrize(
    "query",
    [
        GridQuery(),
        GridQuery(search="europe"),
        GridQuery(search="europe", page_size=1, page=1, descending=True),
        GridQuery(failed_check="*"),
        GridQuery(failed_check="*", page_size=1, page=3),
        GridQuery(sort_by="score:0:1", page_size=1, page=5),
        GridQuery(sort_by="score:0:1", page_size=2, page=2, descending=True),
        GridQuery(sort_by="score:1:0", page_size=3, page=1),
    ],
    ids=repr,
)
def test_a_data_row_without_runs_is_not_a_grid_row_even_when_its_data_matches(mixed, query, ranges_of_one_row):
    # Given an experiment whose last data row (Italy, in europe) has no runs left
    with mixed.database.connection() as connection:
        connection.execute(
            text("delete from score where run_id in (select id from run where experiment_id = :id and row_index = 6)"),
            {"id": mixed.id},
        )
        connection.execute(text("delete from run where experiment_id = :id and row_index = 6"), {"id": mixed.id})
    in_memory = ComparisonState.from_runs(mixed.runs, mixed.variants)

    # When the widget shows a page of it, searched range by range and then counted
    state = mixed.widget().state
    stored_page = state.page(query, counted=False)
    if stored_page["counting"]:
        stored_page.update(state.count(query))

    # Then Italy is not among the rows, as in the grid built from the runs
    assert stored_page == in_memory.page(query)
    assert all(dict(row["inputs"])["country"] != "Italy" for row in stored_page["rows"])
