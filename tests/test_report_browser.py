"""The report in Debian's Chromium, opened from file:// with every request beyond the file refused: the
grid searches, filters, sorts, diffs and pages in the page itself, and hostile model output stays text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import promptlab_nb as pl
from tests.browser_support import chromium_missing_reason, chromium_page

REPORT_ROWS, DATA_ROWS = 40, 45
STRONG, WEAK = "items@1 | mock:strong", "items@1 | mock:weak"
HOSTILE = [
    "<script>window.pwned = 1</script>",
    '<img src="https://attacker.example/pixel.png" onerror="window.pwned = 2">',
    '<a href="javascript:window.pwned = 3">click me</a>',
    "javascript:window.pwned = 4",
    "</script><script>window.pwned = 5</script>",
    "\u202eevil\u202c, zero\u200bwidth\u2066 and \ufeffbom",
    '<style>@import url("https://attacker.example/x.css");</style>',
    '<iframe src="https://attacker.example/"></iframe>',
    "<!--<script>window.pwned = 6</script>-->",
    "<svg onload=\"window.pwned = 7\"><use href='https://attacker.example/#x'/></svg>",
]


def item_number(messages: list[dict[str, str]]) -> int:
    return int(re.search(r"item (\d+)", messages[-1]["content"]).group(1))


def weak_answer(messages: list[dict[str, str]]) -> str:
    number = item_number(messages)
    return f"answer {number}" if number % 3 else f"wrong answer {number}"


def echoed_attack(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"].removeprefix("Repeat: ")


@pytest.fixture
def browser_available() -> None:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def items_report(browser_available, tmp_path) -> Path:
    """45 items answered by a strong model and by a weak one that gets every third wrong, reported up to 40 rows."""
    lab = pl.Lab(f"duckdb:///{tmp_path / 'store.duckdb'}")
    pl.mock_model("strong", lambda messages: f"answer {item_number(messages)}")
    pl.mock_model("weak", weak_answer)
    lab.templates.save("items", "Which answer goes with item {{ item }}?")
    data = pd.DataFrame({"item": range(DATA_ROWS), "expected": [f"answer {number}" for number in range(DATA_ROWS)]})
    experiment = lab.compare(
        ["items"], data, models=["mock:strong", "mock:weak"], evaluators=["equals:expected"], progress=False
    )
    path = experiment.report(tmp_path / "items.html", max_rows=REPORT_ROWS)
    lab.close()
    return path


@pytest.fixture
def hostile_report(browser_available, tmp_path) -> Path:
    """A model that repeats hostile data rows back, as inputs and outputs."""
    lab = pl.Lab(f"duckdb:///{tmp_path / 'store.duckdb'}")
    pl.mock_model("parrot", echoed_attack)
    lab.templates.save("repeat", "Repeat: {{ attack }}")
    experiment = lab.compare(
        ["repeat"],
        pd.DataFrame({"attack": HOSTILE}),
        models=["mock:parrot"],
        evaluators=["contains:zzz"],
        progress=False,
    )
    path = experiment.report(tmp_path / "hostile.html")
    lab.close()
    return path


def is_file(request) -> bool:
    return request.url.startswith("file://")


@pytest.fixture
def offline_page(tmp_path) -> Iterator:
    """A page that may load file:// URLs only; every other request is refused and recorded in ``page.refused``."""
    with chromium_page(tmp_path / "chromium-profile") as page:
        page.refused = []
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))

        page.context.route("**/*", lambda route: route.continue_() if is_file(route.request) else route.abort())
        page.context.on("request", lambda request: None if is_file(request) else page.refused.append(request.url))
        yield page


def open_report(page, path: Path):
    page.goto(path.as_uri())
    page.locator(".promptlab-widget .pl-page").wait_for(timeout=10_000)
    return page.locator(".promptlab-widget")


def pager(report) -> str:
    return report.locator(".pl-page").inner_text()


def wait_for_pager(report, text: str) -> None:
    report.locator(".pl-page", has_text=text).wait_for(timeout=5_000)


def grid_outputs(report) -> list[str]:
    return report.locator(".pl-cell .pl-output").all_text_contents()


def first_inputs(report) -> list[str]:
    return report.locator("tr[data-row] .pl-inputs .pl-input").all_text_contents()[::2]


def test_the_report_pages_searches_filters_sorts_and_diffs_offline(items_report, offline_page):
    # Given the report of 45 items, limited to 40, opened from its file
    report = open_report(offline_page, items_report)

    # Then it shows the first page of 20 rows, says which rows it left out, and hides the static table
    assert pager(report) == "page 1 of 2 · rows 1–20 of 40"
    assert report.locator("tr[data-row]").count() == 20
    assert "the 5 rows of index 40 to 44 are left out" in report.locator(".pl-notice").inner_text()
    assert offline_page.locator(".pl-report-static").is_hidden()
    assert report.locator(".pl-summary td", has_text=WEAK).count() == 1
    assert report.locator(".pl-bar-label").all_inner_texts() == [STRONG, WEAK]

    # When the user goes to the next page
    report.locator("button", has_text="next ›").click()
    # Then it shows rows 21 to 40
    wait_for_pager(report, "page 2 of 2 · rows 21–40 of 40")
    assert first_inputs(report)[:2] == ["20", "21"]

    # When the user searches for one item's answer
    report.locator(".pl-search").fill("answer 28")
    # Then the grid goes back to the first page and shows that row only
    wait_for_pager(report, "page 1 of 1 · rows 1–1 of 1 (filtered from 40)")
    assert grid_outputs(report) == ["answer 28", "answer 28"]

    # When the user clears the search and keeps the rows where a check failed
    report.locator(".pl-search").fill("")
    wait_for_pager(report, "rows 1–20 of 40")
    report.locator(".pl-failed-check").select_option(label="failed any check")
    # Then the 14 rows the weak model got wrong remain, its answers marked with a ✗ and the reason as tooltip
    wait_for_pager(report, "page 1 of 1 · rows 1–14 of 14 (filtered from 40)")
    failed = report.locator(".pl-badge.pl-fail")
    assert failed.count() == 14
    assert failed.first.get_attribute("title") == "expected 'answer 0' (expected)"

    # When the user keeps rows where the variants disagree instead
    report.locator(".pl-failed-check").select_option(label="all checks")
    report.locator(".pl-disagree_only").check()
    # Then the same 14 rows remain
    wait_for_pager(report, "rows 1–14 of 14 (filtered from 40)")
    report.locator(".pl-disagree_only").uncheck()

    # When the user sorts by the weak model's score and diffs against the strong model
    report.locator(".pl-sort").select_option(label=f"equals:expected of {WEAK}")
    report.locator(".pl-baseline").select_option(label=f"vs {STRONG}")
    # Then the rows it got wrong come first, the added word marked
    wait_for_pager(report, "page 1 of 2 · rows 1–20 of 40")
    report.locator("ins.pl-added").first.wait_for()
    assert first_inputs(report)[:3] == ["0", "3", "6"]
    assert report.locator("ins.pl-added").first.text_content() == "wrong "

    # And nothing was requested beyond the file, and no script failed
    assert offline_page.refused == [] and offline_page.errors == []


def test_hostile_outputs_stay_text_and_nothing_runs_or_leaves_the_page(hostile_report, offline_page):
    # Given the report of a model that answers with markup, script, links and unicode tricks
    report = open_report(offline_page, hostile_report)

    # Then every answer reads exactly as the model wrote it, zero-width and direction marks included
    assert grid_outputs(report) == HOSTILE
    # And none of it became an element, ran or asked for anything
    assert offline_page.locator(".promptlab-report :is(a, img, iframe, style, svg, script:not([id]))").count() == 0
    assert offline_page.evaluate("() => document.scripts.length") == 2
    report.locator(".pl-output", has_text="click me").click()
    report.locator(".pl-output", has_text="javascript:window.pwned = 4").click()
    assert offline_page.evaluate("() => window.pwned ?? null") is None
    assert offline_page.refused == []
    # And a direction override cannot reach beyond its own output, and the output says what it hides
    bidi = report.locator(".pl-output").first.evaluate("node => getComputedStyle(node).unicodeBidi")
    assert bidi == "plaintext"
    assert report.locator(".pl-hidden-characters").all_inner_texts() == [
        "hidden characters: U+202E, U+202C, U+200B, U+2066, U+FEFF"
    ]

    # When the user searches for the script text
    report.locator(".pl-search").fill("</script>")
    # Then it finds the two answers that hold it, as text
    wait_for_pager(report, "rows 1–3 of 3 (filtered from 10)")
    assert offline_page.evaluate("() => window.pwned ?? null") is None


def test_without_scripts_the_report_reads_as_a_static_summary_and_table(hostile_report, tmp_path):
    # Given a browser that runs no scripts (as a viewer that strips them)
    with chromium_page(tmp_path / "no-script-profile", java_script_enabled=False) as page:
        # When it opens the report
        page.goto(hostile_report.as_uri())

        # Then the static summary and table show, the answers as text and no element made from them
        static = page.locator(".pl-report-static")
        assert static.is_visible()
        assert static.locator("table").count() == 2
        assert HOSTILE[0] in static.inner_text() and "click me" in static.inner_text()
        assert page.locator(".pl-report-static :is(a, img, iframe, svg, script)").count() == 0
