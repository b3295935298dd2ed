"""Issue 13: the cost limit also holds back paid calls without a known price and counts judge calls
(real OpenAI SDK against the loopback fake server)."""

from __future__ import annotations

import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors

pytest_plugins = ["fakes.fixtures"]

UNPRICED_GPT = "openai:gpt-unlisted"
LOCAL_MODEL = "openai-compatible:qwen2.5-7b-instruct"
JUDGE_ANSWER = '{"score": 1, "reason": "names the capital"}'


def countries(count: int) -> list[dict[str, str]]:
    return [{"country": f"country {index}"} for index in range(count)]


def save_capital(lab, model: str) -> None:
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=model)


@pytest.fixture
def paid_lab(lab, fake_server):
    """A lab whose OpenAI provider is the fake server, with the default cost limit."""
    lab.settings.providers = {"openai": {"api_key": "sk-test", "base_url": fake_server.openai_base_url}}
    assert lab.settings.cost_limit > 0
    return lab


def test_a_paid_model_without_a_price_is_refused_naming_it_until_confirmed(paid_lab, fake_server):
    # Given an OpenAI model that has no known price
    save_capital(paid_lab, UNPRICED_GPT)
    # When it runs over three rows, Then it is refused before any call, naming the model and how to confirm
    with pytest.raises(errors.UnpricedModels, match=r"openai:gpt-unlisted \(3 calls\).*confirm=True.*--yes"):
        paid_lab.run("capital", countries(3), name="unpriced", progress=False)
    assert fake_server.script.received == []
    # And once confirmed it runs
    runs = paid_lab.run("capital", countries(3), name="unpriced", confirm=True, progress=False).runs
    assert set(runs["status"]) == {"ok"} and len(runs) == 3
    # And without a cost limit nothing is asked
    paid_lab.settings.cost_limit = 0
    assert set(paid_lab.run("capital", countries(2), progress=False).runs["status"]) == {"ok"}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(lambda server: {"base_url": server.openai_base_url, "paid": True}, id="declared-paid"),
        pytest.param(lambda server: {"base_url": "https://llm.example.invalid/v1"}, id="remote-server"),
    ],
)
def test_an_openai_compatible_server_that_may_charge_is_refused_until_confirmed(lab, fake_server, options):
    # Given an openai-compatible model on a server that is declared paid or is not on the local network
    lab.settings.providers = {"openai-compatible": options(fake_server)}
    save_capital(lab, LOCAL_MODEL)
    # When it runs, Then it is refused before any call, naming the model
    with pytest.raises(errors.UnpricedModels, match=r"openai-compatible:qwen2\.5-7b-instruct \(2 calls\)"):
        lab.run("capital", countries(2), progress=False)
    assert fake_server.script.received == []
    # And the same model on a server on this machine runs without confirmation
    lab.settings.providers = {"openai-compatible": {"base_url": fake_server.openai_base_url}}
    assert set(lab.run("capital", countries(2), progress=False).runs["status"]) == {"ok"}


def test_judge_calls_count_towards_the_cost_limit(paid_lab, fake_server):
    # Given free mock runs graded by a paid judge, and a limit below what 50 judge calls cost
    save_capital(paid_lab, "mock:echo")
    judge = pl.evals.judge("The answer names a capital.", model="openai:gpt-4o")
    paid_lab.settings.cost_limit = 0.1
    # When 50 runs are to be judged, Then the experiment is refused before any judge call
    with pytest.raises(errors.CostLimitExceeded, match=r"100 calls estimated at \$0\.\d\d"):
        paid_lab.run("capital", countries(50), evaluators=[judge], progress=False)
    assert fake_server.script.received == []
    # And once confirmed every run is judged
    fake_server.script.reply = JUDGE_ANSWER
    experiment = paid_lab.run("capital", countries(50), evaluators=[judge], confirm=True, progress=False)
    assert experiment.runs["judge"].tolist() == [1.0] * 50
    assert len(fake_server.script.received) == 50


def test_a_judge_without_a_known_price_is_refused_naming_it(paid_lab, fake_server):
    # Given free mock runs graded by an OpenAI judge model without a price
    save_capital(paid_lab, "mock:echo")
    judge = pl.evals.judge("The answer names a capital.", model=UNPRICED_GPT)
    # When they run, Then the judge's model is named before any call
    with pytest.raises(errors.UnpricedModels, match=r"openai:gpt-unlisted \(4 calls\)"):
        paid_lab.run("capital", countries(4), evaluators=[judge], progress=False)
    assert fake_server.script.received == []


def test_a_batch_whose_judge_calls_pass_the_limit_is_refused_before_it_is_stored(paid_lab, fake_server):
    # Given free mock batch runs graded by a paid judge, and a limit below what 50 judge calls cost
    pl.mock_model("overnight", respond=lambda messages: "Paris", batch_delay=0)
    save_capital(paid_lab, "mock:overnight")
    judge = pl.evals.judge("The answer names a capital.", model="openai:gpt-4o")
    paid_lab.settings.cost_limit = 0.1
    # When the batch is started, Then it is refused before anything is stored and the name stays free
    with pytest.raises(errors.CostLimitExceeded):
        paid_lab.run("capital", countries(50), evaluators=[judge], mode="batch", name="nightly", progress=False)
    assert paid_lab.experiments().empty
    # And once confirmed the batch is submitted under that name and its runs are judged when collected
    fake_server.script.reply = JUDGE_ANSWER
    experiment = paid_lab.run(
        "capital", countries(50), evaluators=[judge], mode="batch", name="nightly", confirm=True, progress=False
    )
    assert experiment.name == "nightly"
    assert experiment.refresh(progress=False).runs["judge"].tolist() == [1.0] * 50
