"""Issue 20: ``lab.optimize`` proposes rewrites, tests them as variants and keeps only what beats the
original beyond noise on held-out rows; bounded by a budget, resumable, visible round by round."""

from __future__ import annotations

import re

import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.engine.loop import run_blocking
from promptlab_nb.services.execution import ExecutionOptions
from promptlab_nb.services.optimization import META_TEMPLATE, Optimizer
from promptlab_nb.services.optimization_rounds import split_rows

pytest_plugins = ["fakes.fixtures"]

ORIGINAL = "What is {{ a }} + {{ b }}?"
PHRASE = "Think step by step."
ROWS = [{"a": number, "b": 2 * number + 1, "expected": str(3 * number + 1)} for number in range(40)]


def student(messages) -> str:
    """Adds correctly when told to think step by step; told to be careful, for even ``a``; else for ``a``
    divisible by 3."""
    prompt = "\n".join(message["content"] for message in messages)
    a, b = map(int, re.search(r"What is (\d+) \+ (\d+)", prompt).groups())
    right = PHRASE.lower() in prompt.lower() or ("careful" in prompt and a % 2 == 0) or a % 3 == 0
    return str(a + b if right else a + b + 1)


def proposal_number(messages) -> int:
    return int(re.search(r"Proposal (\d+) of", messages[-1]["content"]).group(1))


def current_template(messages) -> str:
    """The template the meta-prompt asks to improve: the text between its first line and the failures."""
    prompt = messages[-1]["content"]
    return prompt.split("\n\n")[1]


def helpful_coach(messages) -> str:
    """Round 1 proposes being careful (better); once careful, one proposal adds the phrase (best)."""
    template, number = current_template(messages), proposal_number(messages)
    if "careful" in template:
        return [f"{template} Reply in words.", f"{PHRASE} {template}", template.upper()][number - 1]
    return [f"Answer quickly. {template}", f"Be careful. {template}", f"{template} Reply in words."][number - 1]


def useless_coach(messages) -> str:
    template = current_template(messages)
    return [f"Answer quickly. {template}", f"{template} Reply in words.", f"```\nPlease. {template}\n```"][
        proposal_number(messages) - 1
    ]


@pytest.fixture
def adder(lab):
    pl.mock_model("student", student)
    pl.mock_model("helpful", helpful_coach)
    pl.mock_model("useless", useless_coach)
    lab.templates.save("adder", ORIGINAL, model="mock:student")
    return lab


def optimize(lab, optimizer: str, **options):
    return lab.optimize(
        "adder",
        ROWS,
        evaluators=["equals:expected"],
        optimizer_model=optimizer,
        rounds=options.pop("rounds", 3),
        candidates=3,
        progress=options.pop("progress", False),
        **options,
    )


def test_the_optimisation_finds_the_phrase_proves_it_on_the_holdout_and_saves_one_version(adder):
    # Given the adder template, a student model and the optimizer models
    # When the template is optimised with an optimizer that eventually proposes the phrase
    optimization = optimize(adder, "mock:helpful")
    # Then round 1 keeps the careful rewrite, round 2 the phrase, and nothing is left for round 3
    assert [report.winner for report in optimization.rounds] == ["optimize-adder.r1-2@1", "optimize-adder.r2-2@1"]
    assert all(report.improved for report in optimization.rounds)
    # And a rewrite needing variables the data lacks is skipped, saying why
    assert [len(report.scores) for report in optimization.rounds] == [4, 3]
    assert optimization.rounds[1].skipped == ["proposal 3: it needs A, B, not in the data"]
    # And on the holdout set the winner beats the original beyond noise
    holdout = optimization.holdout
    assert holdout.n_pairs == 12 and holdout.mean_diff > 0 and holdout.ci_low > 0
    # And exactly one version is saved, with the phrase and a note of its round, scores and diff
    history = adder.templates.history("adder")
    assert [version.version for version in history] == [1, 2] and optimization.saved_version == 2
    assert PHRASE in history[1].body and history[1].model == "mock:student"
    note = history[1].description
    assert note.startswith("Optimised by optimize-adder, round 2 of 3: tuning 1.000")
    assert "holdout difference +" in note and f"+{PHRASE} Be careful. {ORIGINAL}" in note


def test_every_step_is_a_stored_experiment_and_the_candidates_leave_the_list(adder):
    # Given the adder template, a student model and the optimizer models
    # When the template is optimised
    optimization = optimize(adder, "mock:helpful")
    # Then its steps are experiments that can be queried like any other
    assert optimization.experiments == [
        "optimize-adder-r0",
        "optimize-adder-r1-proposals",
        "optimize-adder-r1",
        "optimize-adder-r2-proposals",
        "optimize-adder-r2",
        "optimize-adder-holdout",
    ]
    counted = adder.sql("select experiment, count(*) as runs from runs group by experiment")
    assert dict(zip(counted["experiment"], counted["runs"], strict=True))["optimize-adder-r1"] == 28 * 4
    assert adder.experiment("optimize-adder-holdout").variants == ["optimize-adder.r2-2@1", "adder@1"]
    # And the meta-prompt is a stored template; the candidates are no longer listed
    assert set(adder.templates.list()["name"]) == {"adder", META_TEMPLATE}


def test_useless_rewrites_save_nothing(adder):
    # Given the adder template, a student model and the optimizer models
    # When the optimizer proposes only rewrites that change nothing that matters
    optimization = optimize(adder, "mock:useless", rounds=2)
    # Then no version is saved and the result says no candidate beat the original
    assert optimization.saved_version is None and optimization.holdout is None
    assert adder.templates.history("adder")[-1].version == 1
    assert "No candidate beat the original" in optimization.result.message


def test_a_rewrite_that_only_helps_on_the_tuning_rows_is_not_saved(adder):
    # Given a rewrite that makes the student right on exactly the tuning rows, and the original elsewhere
    tuning, _ = split_rows(ROWS, 0.3, seed=0)
    lucky = {row["a"] for row in tuning}

    def tuned_student(messages):
        prompt = messages[-1]["content"]
        a = int(re.search(r"What is (\d+)", prompt).group(1))
        return str(3 * a + 1) if prompt.startswith("Lucky.") and a in lucky else student(messages)

    pl.mock_model("student", tuned_student)
    pl.mock_model("lucky", lambda messages: f"Lucky. {current_template(messages)}")
    # When the template is optimised with it
    optimization = optimize(adder, "mock:lucky", rounds=1)
    # Then it wins on the tuning set, ties on the holdout set and is not saved
    assert optimization.rounds[0].winner == "optimize-adder.r1-1@1"
    assert optimization.holdout.mean_diff == 0
    assert optimization.saved_version is None
    assert "no candidate beat the original beyond noise, nothing saved" in optimization.result.message
    assert adder.templates.history("adder")[-1].version == 1


def test_progress_shows_each_round_with_scores_and_the_winning_diff(adder, capsys):
    # Given the adder template, a student model and the optimizer models
    # When the optimisation runs with progress shown
    optimize(adder, "mock:helpful", progress=True)
    shown = capsys.readouterr().out
    # Then the estimate comes first, then each round's candidates with CIs and the diff of the winner
    assert shown.startswith("optimize-adder: about ")
    assert "Round 1 (optimize-adder-r1): 3 candidates on the tuning set" in shown
    assert re.search(r"optimize-adder\.r1-2@1: 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] n=28  <- best", shown)
    assert f"+{PHRASE} Be careful. {ORIGINAL}" in shown
    assert "saved as adder@2" in shown


class Interrupted(Exception):
    pass


def interrupt_after_round_1(text: str) -> None:
    if text.startswith("Round 1 "):
        raise Interrupted


def test_an_interrupted_optimisation_resumes_from_the_last_round(adder):
    # Given an optimisation interrupted once its first round finished
    optimizer = Optimizer(adder.db, adder.settings)
    evaluators = [pl.evals.equals("expected")]
    name, _ = optimizer.start(
        "adder",
        ROWS,
        evaluators,
        optimizer_model="mock:helpful",
        rounds=3,
        candidates=3,
        holdout=0.3,
        budget=None,
        seed=0,
        name=None,
        confirm=False,
    )
    with pytest.raises(Interrupted):
        run_blocking(lambda: optimizer.run(name, evaluators, ExecutionOptions(progress=False), interrupt_after_round_1))
    assert adder.optimization(name).experiments == [
        "optimize-adder-r0",
        "optimize-adder-r1-proposals",
        "optimize-adder-r1",
    ]
    runs_before = adder.sql("select count(*) as n from runs")["n"].iloc[0]
    # When it is resumed from a fresh handle, as another session would
    optimization = adder.optimization(name).resume(progress=False)
    # Then it goes on with round 2 without running round 1 again, and saves one version
    assert len(optimization.experiments) == 6
    new_runs = adder.sql("select count(*) as n from runs")["n"].iloc[0] - runs_before
    assert new_runs == 3 + 28 * 3 + 12 * 2
    assert optimization.saved_version == 2 and [v.version for v in adder.templates.history("adder")] == [1, 2]


@pytest.fixture
def paid_optimizer(adder, fake_server):
    """The rewrites come from a priced OpenAI model (the fake server), always the phrase added."""
    adder.settings.providers = {"openai": {"api_key": "sk-test", "base_url": fake_server.openai_base_url}}
    fake_server.script.reply = f"{PHRASE} {ORIGINAL}"
    return adder


def test_the_optimisation_stops_at_its_budget_and_resumes_with_a_larger_one(paid_optimizer, fake_server):
    # Given the adder template and an optimizer model priced by the fake provider server
    # When the optimisation's budget cannot pay for the first proposals
    optimization = optimize(paid_optimizer, "openai:gpt-4o", budget=0.001)
    # Then it stops before calling the optimizer, keeps round 0 and saves nothing
    assert optimization.result.stopped_at_budget and fake_server.script.received == []
    assert "Stopped before optimize-adder-r1-proposals" in optimization.result.message
    assert optimization.experiments == ["optimize-adder-r0", "optimize-adder-r1-proposals"]
    assert paid_optimizer.experiment("optimize-adder-r1-proposals").runs.empty
    assert paid_optimizer.templates.history("adder")[-1].version == 1
    # When it resumes with a larger budget
    optimization.resume(budget=1.0, progress=False)
    # Then it goes on, spends within the budget, and saves the proven rewrite
    assert len(fake_server.script.received) == 3
    assert 0 < optimization.result.spent < 1.0
    assert optimization.saved_version == 2


def test_an_optimisation_estimated_above_the_cost_limit_is_refused_before_any_call(paid_optimizer, fake_server):
    # Given a cost limit below what the optimizer calls are estimated to cost
    paid_optimizer.settings.cost_limit = 0.001
    # When the optimisation starts, Then it is refused before anything runs
    with pytest.raises(errors.CostLimitExceeded):
        optimize(paid_optimizer, "openai:gpt-4o")
    assert fake_server.script.received == [] and paid_optimizer.experiments().empty


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"holdout": 1.5}, "holdout is the share of rows"),
        ({"holdout": 0.01}, "each needs at least 2"),
        ({"evaluators": []}, "Optimising needs evaluators"),
    ],
)
def test_impossible_requests_are_refused_in_one_line(adder, options, message):
    # Given the adder template and an optimizer model
    arguments = {"evaluators": ["equals:expected"], "optimizer_model": "mock:helpful", **options}
    # When an optimisation is asked that cannot run, Then one line says what to change
    with pytest.raises(errors.InvalidData, match=message) as refused:
        adder.optimize("adder", ROWS, progress=False, **arguments)
    assert len(str(refused.value).splitlines()) == 1
    # Then nothing was stored
    assert adder.experiments().empty


def test_an_unknown_optimisation_or_a_name_taken_is_refused_in_one_line(adder):
    # Given an optimisation under a name
    optimize(adder, "mock:useless", rounds=1, name="tune")
    # When another starts under that name, or an unknown one is asked for
    # Then another under that name is refused, and an unknown one is not found
    with pytest.raises(errors.OptimizationNameTaken, match=r"lab\.optimization\('tune'\)\.resume\(\)"):
        optimize(adder, "mock:useless", rounds=1, name="tune")
    with pytest.raises(errors.OptimizationNotFound, match="No optimisation named 'tuned'"):
        adder.optimization("tuned")


def test_the_split_is_seeded_and_stratified_by_expected():
    # Given rows whose expected answers fall in two classes, 30 and 10 rows
    rows = [{"n": number, "expected": "yes" if number < 30 else "no"} for number in range(40)]
    # When they are split twice with one seed and once with another
    tuning, held_out = split_rows(rows, 0.3, seed=1)
    # Then each class keeps its share in the holdout set, and the seed decides which rows
    assert [row["expected"] for row in held_out].count("yes") == 9
    assert [row["expected"] for row in held_out].count("no") == 3
    assert len(tuning) == 28
    assert split_rows(rows, 0.3, seed=1) == (tuning, held_out)
    assert split_rows(rows, 0.3, seed=2)[1] != held_out


def test_the_magic_optimizes_and_returns_the_optimisation(notebook_shell):
    # Given the template and the rows in the notebook
    pl.mock_model("student", student)
    pl.mock_model("helpful", helpful_coach)
    notebook_shell.user_ns["sums"] = ROWS
    notebook_shell.run_cell(f"%%prompt adder --model mock:student\n{ORIGINAL}")
    # When the magic optimises it
    result = notebook_shell.run_cell(
        "opt = %prompt optimize adder --on sums --eval equals:expected --optimizer mock:helpful"
        " --rounds 2 --candidates 3"
    )
    # Then the optimisation is returned and saved the proven version
    assert result.error_in_exec is None
    assert notebook_shell.user_ns["opt"].saved_version == 2
