"""Issue 15 item 3: an experiment compared with a baseline experiment on the rows both ran, matched by
their input values; the rows whose verdict went from pass to fail; the same from the magic."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from baseline_support import CAREFUL, COUNTRIES, HASTY, QUESTIONS, geographer
from baseline_support import careful_then_hasty as run_careful_then_hasty
from scipy import stats
from sqlalchemy import select

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.services.baselines import DATA_HASH
from promptlab_nb.store.models import StoredExperiment


@pytest.fixture
def careful_then_hasty(lab):
    """The hasty experiment runs the same questions in another order and with the columns swapped."""
    return run_careful_then_hasty(lab, QUESTIONS.sample(frac=1, random_state=3)[["expected", "country"]])


def test_the_default_baseline_is_the_earlier_experiment_on_the_same_data(lab, careful_then_hasty):
    # Given an unrelated experiment on other data run after the careful one
    lab.run("capital", QUESTIONS.head(5), evaluators=["equals:expected"], name="other-data", progress=False)
    # When the hasty experiment is compared without naming a baseline
    comparison = careful_then_hasty.compare_to()
    # Then the baseline is the careful one and every row pairs by its values, not its position
    assert comparison.baseline == "careful"
    assert comparison.shared_rows == 12
    (difference,) = comparison.differences
    assert (difference.variant, difference.baseline_variant) == ("capital@2", "capital@1")
    assert (difference.n, difference.wins, difference.losses, difference.ties) == (12, 0, 6, 6)


def test_experiments_stored_before_data_fingerprints_find_their_baseline_by_their_rows(lab, careful_then_hasty):
    # Given both experiments as a store from before data fingerprints keeps them, and one on other data
    lab.run("capital", QUESTIONS.head(5), evaluators=["equals:expected"], name="other-data", progress=False)
    with lab.db.session() as session:
        for stored in session.scalars(select(StoredExperiment)):
            stored.settings = {key: value for key, value in stored.settings.items() if key != DATA_HASH}
    with lab.db.session() as session:
        assert not any(DATA_HASH in settings for settings in session.scalars(select(StoredExperiment.settings)))
    # When the hasty experiment is compared without naming a baseline
    comparison = careful_then_hasty.compare_to()
    # Then its rows, read from the store, find the careful one
    assert (comparison.baseline, comparison.shared_rows) == ("careful", 12)


def test_the_paired_difference_matches_scipy_and_is_flagged_worse_beyond_noise(lab, careful_then_hasty):
    # Given each question's score before and after, computed independently
    before = [1.0] * 12
    after = [0.0 if index % 2 == 0 else 1.0 for index in range(12)]
    reference = stats.ttest_rel(after, before)
    # When the hasty experiment is compared with the careful one by name
    comparison = careful_then_hasty.compare_to("careful")
    # Then the numbers agree with scipy's paired t-test and the difference is worse beyond noise
    (difference,) = comparison.differences
    assert difference.mean_diff == pytest.approx(-0.5)
    assert difference.p_value == pytest.approx(reference.pvalue)
    low, high = reference.confidence_interval(0.95)
    assert (difference.ci_low, difference.ci_high) == pytest.approx((low, high))
    assert difference.worse_beyond_noise and not difference.better_beyond_noise
    assert comparison.worse == [difference]
    frame = comparison.frame()
    assert frame.loc[0, ["variant", "evaluator", "worse_beyond_noise"]].tolist() == [
        "capital@2",
        "equals:expected",
        True,
    ]


def test_the_comparison_shows_one_line_that_counts_the_worse_variants_over_its_table(lab, careful_then_hasty):
    # Given the hasty experiment compared with the careful one
    comparison = careful_then_hasty.compare_to("careful")

    # When it is shown as text and as HTML
    text, html = repr(comparison), comparison._repr_html_()

    # Then both lead with the line a reviewer reads first, over the table of differences
    header = "hasty vs baseline careful: 12 shared rows, 1 worse beyond noise"
    assert text.splitlines()[0] == header and "capital@2" in text.splitlines()[2]
    assert html.startswith(f"<p>{header}</p><table") and "<td>capital@1</td>" in html


def test_an_experiment_object_is_a_baseline_and_the_reverse_is_better(lab, careful_then_hasty):
    # Given a careful experiment and a hasty one that regressed on half the same questions
    # When the careful experiment is compared with the hasty one, given as an object
    careful = lab.experiment("careful")
    comparison = careful.compare_to(careful_then_hasty)
    # Then it is better beyond noise and not worse
    (difference,) = comparison.differences
    assert difference.mean_diff == pytest.approx(0.5)
    assert difference.better_beyond_noise and comparison.worse == []


def test_regressions_list_the_rows_that_went_from_pass_to_fail_with_both_outputs(lab, careful_then_hasty):
    # Given a careful experiment and a hasty one that regressed on half the same questions
    # When the user asks which rows regressed since the careful experiment
    regressions = careful_then_hasty.regressions("careful")
    # Then each even-numbered question is listed once with its data and both outputs side by side
    assert sorted(regressions["country"]) == sorted(COUNTRIES[0::2])
    row = regressions.set_index("country").loc["country 4"]
    assert (row["baseline_output"], row["output"]) == ("capital 4", "no idea")
    assert (row["baseline_score"], row["score"]) == (1.0, 0.0)
    assert set(regressions["variant"]) == {"capital@2"} and set(regressions["baseline_variant"]) == {"capital@1"}


def test_verdict_rows_for_a_view_put_changed_verdicts_first(lab, careful_then_hasty):
    # Given a careful experiment and a hasty one that regressed on half the same questions
    from promptlab_nb.services.baselines import BaselineService

    # When a view asks for the plain rows of the comparison
    with lab.db.session() as session:
        rows = BaselineService(session).verdict_rows("hasty", "careful")
    # Then the six regressions come first, then the unchanged rows, each placed in both experiments
    assert [row["regressed"] for row in rows] == [True] * 6 + [False] * 6
    assert all(row["passed"] for row in rows[6:])
    first = rows[0]
    assert (first["baseline_output"], first["output"]) == (first["inputs"]["expected"], "no idea")
    hasty_rows = careful_then_hasty.runs.drop_duplicates("row_index").set_index("row_index")
    assert hasty_rows.loc[first["row_index"], "country"] == first["inputs"]["country"]
    assert COUNTRIES[first["baseline_row_index"]] == first["inputs"]["country"]
    # And they are plain data, ready to send to a view as JSON
    assert json.loads(json.dumps(rows)) == rows


def test_without_an_earlier_experiment_on_the_same_data_the_user_is_told_to_name_one(lab):
    # Given a single experiment
    pl.mock_model("geographer", geographer)
    lab.templates.save("capital", CAREFUL, model="mock:geographer")
    experiment = lab.run("capital", QUESTIONS, evaluators=["equals:expected"], progress=False)
    # When it is compared with no baseline, Then one line says what to do
    with pytest.raises(errors.BaselineNotFound, match=r"No experiment before 'capital' ran 'capital'.*compare_to"):
        experiment.compare_to()


def test_experiments_sharing_no_row_or_evaluator_are_refused(lab, careful_then_hasty):
    # Given an experiment on other questions, and one scored by another evaluator
    other = pd.DataFrame({"country": ["country 99"], "expected": ["capital 99"]})
    elsewhere = lab.run("capital", other, evaluators=["equals:expected"], name="elsewhere", progress=False)
    unscored = lab.run("capital", QUESTIONS, evaluators=["length:-40"], name="lengths", progress=False)
    # When each is compared with the careful one
    # Then each comparison with the careful one says why it cannot be made
    with pytest.raises(errors.InvalidData, match="share no data row"):
        elsewhere.compare_to("careful")
    with pytest.raises(errors.InvalidData, match="share no evaluator"):
        unscored.compare_to("careful")


def test_the_compare_magic_shows_the_comparison_with_the_baseline(notebook_shell, capsys):
    # Given a careful experiment run from the notebook, and a hasty version of the template
    pl.mock_model("geographer", geographer)
    notebook_shell.user_ns["questions"] = QUESTIONS
    notebook_shell.run_cell(f"%%prompt capital --model mock:geographer\n{CAREFUL}")
    notebook_shell.run_cell("%prompt compare capital --on questions --eval equals:expected --name careful")
    notebook_shell.run_cell(f"%%prompt capital --model mock:geographer\n{HASTY}")
    capsys.readouterr()
    # When the hasty one runs with --baseline
    result = notebook_shell.run_cell(
        "exp = %prompt compare capital --on questions --eval equals:expected --baseline careful"
    )
    # Then the comparison is shown and the experiment is returned
    assert result.error_in_exec is None
    shown = capsys.readouterr().out
    assert "capital vs baseline careful: 12 shared rows, 1 worse beyond noise" in shown
    assert notebook_shell.user_ns["exp"].compare_to().baseline == "careful"


def test_a_score_without_a_verdict_is_compared_but_lists_no_regression(lab):
    # Given both versions scored by a function that returns a bare number, which passes or fails nothing
    pl.mock_model("geographer", geographer)
    closeness = pl.evals.custom(lambda output, row: 0.0 if output == "no idea" else 1.0, name="closeness")
    lab.templates.save("capital", CAREFUL, model="mock:geographer")
    lab.run("capital", QUESTIONS, evaluators=[closeness], name="careful", progress=False)
    lab.templates.save("capital", HASTY, model="mock:geographer")
    hasty = lab.run("capital", QUESTIONS, evaluators=[closeness], name="hasty", progress=False)
    # When it is compared with the careful one
    comparison = hasty.compare_to("careful")
    # Then the scores are compared, and no row counts as gone from pass to fail
    assert comparison.differences[0].mean_diff == pytest.approx(-0.5)
    assert hasty.regressions("careful").empty
