"""A search reads only the blocks of data rows whose texts hold its trigrams: the blocks are written with the
runs and the data, find what reading every text finds, and an experiment stored before them is searched in
full until ``lab.vacuum()`` indexes it."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select

import promptlab_nb as pl
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_state import ComparisonState, GridQuery
from promptlab_nb.services import run_grid
from promptlab_nb.store import text_grams
from promptlab_nb.store.models import IndexedTexts, TextBlock

ROWS = 40
RARE_ROWS = {9: "a Zanzibar spice", 33: "ZANZIBAR again"}
CITIES = {5: "İstanbul", 17: "the \u212aelvin scale", 21: "Ο Σίσυφος", 26: "100% sure", 29: "snake_case"}


def answer(messages: list[dict[str, str]]) -> str:
    row = int(messages[-1]["content"].split()[-1])
    return RARE_ROWS.get(row) or CITIES.get(row) or f"plain answer {row}"


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 data rows, so that a few dozen rows span ten blocks."""
    monkeypatch.setattr(text_grams, "BLOCK_ROWS", 4)


@pytest.fixture
def spread(lab, small_blocks):
    """One variant x 40 rows over ten blocks: a rare word in rows 9 and 33, other scripts, % and _ in a
    few answers, and a data column with a rare word in row 14."""
    pl.mock_model("spread", answer)
    lab.templates.save("ask", "Tell me about row {{ number }}", model="mock:spread")
    notes = ["ordinary note"] * ROWS
    notes[14] = "Quokka sighting"
    data = pd.DataFrame({"number": range(ROWS), "note": notes})
    return lab.run("ask", data, progress=False)


def shown_rows(widget: ComparisonWidget) -> list[int]:
    return [int(dict(row["inputs"])["number"]) for row in widget.view["rows"]]


def candidates(lab, experiment, term: str) -> dict[str, list[int]] | None:
    with lab.db.connection() as connection:
        found = text_grams.candidate_blocks(connection, experiment.record.id, term)
    return None if found is None else {kind: blocks.tolist() for kind, blocks in found.items()}


def test_a_search_for_a_rare_word_reads_only_the_blocks_that_hold_it(lab, spread):
    # Given an experiment whose answers name Zanzibar in rows 9 and 33 (blocks 2 and 8 of ten)
    # When the user searches for it in another case
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "zanzibar"

    # Then the store names those two blocks of answers and no block of data, and the rows are those two
    assert candidates(lab, spread, "zanzibar") == {"shown": [2, 8], "inputs": []}
    assert shown_rows(widget) == [9, 33]


def test_a_word_every_block_of_answers_may_hold_leaves_the_answers_unrestricted(lab, spread):
    # Given an experiment where every block of rows has an answer saying "plain answer"
    # When the user searches for "answer", Then the store restricts only the data (which never says it)
    assert candidates(lab, spread, "answer") == {"inputs": []}
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "answer"
    widget.wait_for_count()
    assert widget.view["matching"] == ROWS - len(RARE_ROWS) - len(CITIES)


def test_a_rare_word_in_the_data_is_found_in_its_block_of_data(lab, spread):
    # Given an experiment whose data column has "Quokka" in row 14 only
    # When the user searches for it
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "QUOKKA"

    # Then only block 3 of the data may hold it, and row 14 is the row shown
    assert candidates(lab, spread, "QUOKKA") == {"shown": [], "inputs": [3]}
    assert shown_rows(widget) == [14]


SEARCHES = [
    "zanzibar",
    "kelvin",
    "ΣΊΣΥΦΟΣ",
    "0%",
    "e_c",
    "answer 3",
    "ordinary",
    "an",
    "x",
    "nowhere at all",
]


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("page_size", [2, 50])
def test_every_search_over_many_blocks_shows_what_the_runs_in_memory_show(spread, search, page_size, monkeypatch):
    # Given the widget on an experiment spread over ten blocks, read range by range from one row
    monkeypatch.setattr(run_grid, "FIRST_RANGE_ROWS", 1)
    monkeypatch.setattr(run_grid, "RANGE_GROWTH", 2)
    widget = ComparisonWidget.from_experiment(spread)
    in_memory = ComparisonState.from_runs(spread.runs, spread.variants)
    query = GridQuery(search=search, page_size=page_size)

    # When a page is found and then counted
    stored_page = widget.state.page(query, counted=False)
    if stored_page["counting"]:
        stored_page.update(widget.state.count(query))

    # Then it is the page built from every run, counts included
    assert stored_page == in_memory.page(query)


def test_a_dotless_search_finds_the_dotted_capital_i_as_the_store_lowers_it(spread):
    # Given an answer "İstanbul", which the store lowers to "istanbul" (Python to "i̇stanbul")
    # When the user searches for "istanbul"
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "istanbul"

    # Then the row is found: its block holds the term's trigrams as the store lowers the text
    assert shown_rows(widget) == [5]


def test_runs_written_in_several_writes_leave_one_bitset_per_block_with_the_bits_of_each(lab, spread):
    # Given an experiment whose runs are stored and searched, and a later write of more texts to block 2
    assert candidates(lab, spread, "okapi") == {"shown": [], "inputs": []}
    with lab.db.connection() as connection:
        text_grams.add_texts(connection, text_grams.SHOWN, {(spread.record.id, 2): ["a later Okapi"]})

    # When the blocks are read
    with lab.db.connection() as connection:
        blocks = connection.execute(
            select(TextBlock.kind, TextBlock.block, func.count())
            .where(TextBlock.experiment_id == spread.record.id)
            .group_by(TextBlock.kind, TextBlock.block)
        ).all()

    # Then each block has one bitset, and block 2 holds both what its runs show and the later text, which
    # the next search reads
    assert sorted((kind, block) for kind, block, _ in blocks) == sorted(
        (kind, block) for kind in ("shown", "inputs") for block in range(10)
    )
    assert {count for _, _, count in blocks} == {1}
    assert candidates(lab, spread, "okapi")["shown"] == [2]
    assert 2 in candidates(lab, spread, "zanzibar")["shown"]


def forget_the_blocks(lab, experiment) -> None:
    """The experiment as a store written before text blocks holds it: no blocks, not listed as indexed."""
    with lab.db.connection() as connection:
        connection.execute(delete(TextBlock).where(TextBlock.experiment_id == experiment.record.id))
        connection.execute(delete(IndexedTexts).where(IndexedTexts.experiment_id == experiment.record.id))


def test_an_experiment_stored_before_text_blocks_is_searched_in_full_until_vacuum_indexes_it(lab, spread):
    # Given an experiment stored by a version that wrote no text blocks
    forget_the_blocks(lab, spread)

    # When the user searches it, Then every text is read and the rows are found
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "Zanzibar"
    assert candidates(lab, spread, "Zanzibar") is None
    assert shown_rows(widget) == [9, 33]

    # When the store is vacuumed, Then the experiment is indexed and the same search reads two blocks
    lab.vacuum()
    assert candidates(lab, spread, "Zanzibar") == {"shown": [2, 8], "inputs": []}
    widget.search = ""
    widget.search = "Zanzibar"
    assert shown_rows(widget) == [9, 33]
    with lab.db.connection() as connection:
        assert text_grams.unindexed_experiments(connection) == []


NUMBERS = [1e5, 1e20, 1.5, 12345678901234567890, -0.0, True, {"depth": 2, "tags": ["x", 7e-9]}, "plain"]
NUMBER_SEARCHES = ["100000", "00000.0", "1e+20", "1e20", "1.5", "1234567890123", "-0.0", "true", '"depth":2', "7e-09"]


def found_rows(experiment, search: str) -> list[int]:
    widget = ComparisonWidget.from_experiment(experiment)
    widget.search = search
    return shown_rows(widget)


def test_numbers_and_nested_values_in_the_data_are_found_as_the_store_reads_them_back(lab, small_blocks):
    # Given data whose values are numbers, a boolean and a nested value, one kind to a block of rows
    pl.mock_model("quiet", {"*": "nothing to see"})
    lab.templates.save("look", "Look at row {{ number }}", model="mock:quiet")
    data = pd.DataFrame({"number": range(4 * len(NUMBERS)), "value": [value for value in NUMBERS for _ in range(4)]})
    experiment = lab.run("look", data, progress=False)

    # When the user searches numbers as written and as the store writes them back, with and without blocks
    with_blocks = {search: found_rows(experiment, search) for search in NUMBER_SEARCHES}
    forget_the_blocks(lab, experiment)
    without_blocks = {search: found_rows(experiment, search) for search in NUMBER_SEARCHES}

    # Then the blocks never hide a row the store's text would show
    assert with_blocks == without_blocks
    assert with_blocks["1.5"] == [8, 9, 10, 11]


TEXTS = [
    "ok",
    "no",
    "Plain ASCII Text with UPPER and lower",
    "İstanbul İZMİR",
    "\u212aelvin and \u212b ångström",
    "ΟΔΥΣΣΕΥΣ Σίσυφος ΣΊΣΥΦΟΣ",
    "Straße STRASSE ß ẞ",
    "ǅemal ǄEMAL",
    "emoji 🙂 between words 🙃!",
    'quotes " and \\ backslashes \t tabs',
    "ﬁne ligatures ﬀ",
]


def test_every_text_a_search_finds_in_the_store_has_each_bit_of_the_term_in_its_block():
    # Given texts in many scripts and cases, lowered as the store lowers them, each a block of its own
    store = duckdb.connect()
    lowered = [store.execute("select lower(?)", [text]).fetchone()[0] for text in TEXTS]
    bitsets, four_grams = text_grams.bitsets([[text] for text in TEXTS])
    assert four_grams.all()
    for text, stored_lower, packed in zip(TEXTS, lowered, bitsets, strict=True):
        bits = np.unpackbits(packed, bitorder="little")
        # When a term is any piece of the stored text, in its case or upper case, that the search would find
        pieces = {stored_lower[start : start + size] for size in (3, 4, 6) for start in range(len(stored_lower))}
        terms = {term for piece in pieces for term in (piece, piece.upper())}
        found = [term for term in terms if term.lower() in stored_lower]
        # Then each bit the term asks for, of its windows of three and of four bytes, is set in the bitset
        missing = [term for term in found for size in (3, 4) if not bits[text_grams.term_bits(term, size)].all()]
        assert not missing, (text, missing)


def test_a_block_of_long_texts_keeps_the_windows_of_three_bytes_only_and_still_finds_its_rows(lab, spread, monkeypatch):
    # Given blocks whose texts are longer than the bitsets keep windows of four bytes for
    monkeypatch.setattr(text_grams, "FOUR_GRAMS_UP_TO", 8)
    forget_the_blocks(lab, spread)
    lab.vacuum()

    # When the user searches a rare word
    widget = ComparisonWidget.from_experiment(spread)
    widget.search = "Zanzibar"

    # Then the blocks say they keep three-byte windows only, and the rows are found through them
    with lab.db.connection() as connection:
        kept = set(connection.scalars(select(TextBlock.four_grams).where(TextBlock.experiment_id == spread.record.id)))
    assert kept == {False}
    assert candidates(lab, spread, "Zanzibar")["shown"] == [2, 8]
    assert shown_rows(widget) == [9, 33]


def test_a_block_of_one_short_answer_has_no_windows_and_a_run_answering_it_is_stored(lab):
    # Given a model answering with one letter
    pl.mock_model("terse", {"*": "x"})
    lab.templates.save("yes_no", "Answer {{ q }}", model="mock:terse")

    # When it runs, Then the run is stored and its block has no bit set, so no search of three letters finds it
    experiment = lab.run("yes_no", pd.DataFrame({"q": ["a"]}), progress=False)
    assert list(experiment.runs["output"]) == ["x"]
    assert not text_grams.bitsets([["x"]])[0].any()
    assert candidates(lab, experiment, "xyz") == {"shown": [], "inputs": []}
