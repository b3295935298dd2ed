"""The runner with the real OpenAI SDK against the loopback fake server: limits, retries, cost."""

from __future__ import annotations

import pytest

from promptlab_nb.core import errors

pytest_plugins = ["fakes.fixtures"]

GPT = "openai:gpt-4o-mini"


@pytest.fixture
def openai_lab(lab, fake_server):
    lab.settings.providers = {"openai": {"api_key": "sk-test", "base_url": fake_server.openai_base_url}}
    lab.settings.max_retries = 2
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=GPT)
    return lab


def countries(count: int) -> list[dict[str, str]]:
    return [{"country": f"country {index}"} for index in range(count)]


def test_the_global_concurrency_limit_is_what_the_server_sees(openai_lab, fake_server):
    # Given a server that answers after 50 ms
    fake_server.script.latency = 0.05
    # When 40 runs go out five at a time
    runs = openai_lab.run("capital", countries(40), concurrency=5, progress=False).runs
    # Then all succeed and the server never had more than five requests in flight
    assert set(runs["status"]) == {"ok"}
    assert fake_server.script.max_in_flight == 5


def test_a_per_provider_limit_caps_that_provider(openai_lab, fake_server):
    fake_server.script.latency = 0.05
    openai_lab.settings.provider_concurrency = {"openai": 3}
    openai_lab.run("capital", countries(20), concurrency=10, progress=False)
    assert fake_server.script.max_in_flight == 3


def test_server_errors_are_retried_and_the_run_succeeds(openai_lab, fake_server):
    fake_server.script.fail("server", times=2)
    runs = openai_lab.run("capital", countries(1), progress=False).runs
    assert runs["status"].tolist() == ["ok"]
    assert runs["output"].tolist() == ["The capital of France is Paris."]
    assert len(fake_server.script.received) == 3


def test_a_bad_request_is_recorded_without_retrying(openai_lab, fake_server):
    fake_server.script.fail("context_too_long")
    runs = openai_lab.run("capital", countries(1), progress=False).runs
    assert runs["status"].tolist() == ["error"]
    assert "ContextTooLong" in runs["error"].iloc[0] and "maximum context length" in runs["error"].iloc[0]
    assert len(fake_server.script.received) == 1


def test_tokens_and_cost_come_from_the_provider_and_its_prices(openai_lab, fake_server):
    runs = openai_lab.run("capital", countries(2), progress=False).runs
    assert runs["input_tokens"].tolist() == [12, 12] and runs["output_tokens"].tolist() == [7, 7]
    assert runs["cost"].iloc[0] == pytest.approx((12 * 0.15 + 7 * 0.60) / 1_000_000)


def test_cost_limit_refuses_an_expensive_experiment_until_confirmed(openai_lab, fake_server):
    # Given a cost limit far below what 200 calls to gpt-4o would cost
    openai_lab.templates.save(
        "essay", "Write a long essay about {{ country }}.", model="openai:gpt-4o", params={"max_tokens": 4000}
    )
    openai_lab.settings.cost_limit = 0.5
    # When the user runs it, Then it is refused before any call, saying what it would cost
    with pytest.raises(errors.CostLimitExceeded, match=r"200 calls estimated at \$8\.\d\d.*confirm=True"):
        openai_lab.run("essay", countries(200), name="essays", progress=False)
    assert fake_server.script.received == []
    assert openai_lab.experiments().empty
    # And once confirmed it runs
    runs = openai_lab.run("essay", countries(200), name="essays", confirm=True, progress=False).runs
    assert len(runs) == 200 and set(runs["status"]) == {"ok"}


def test_a_missing_key_is_one_clear_error_before_anything_runs(lab, fake_server, monkeypatch):
    # Given no OpenAI key
    lab.settings.providers = {"openai": {"base_url": fake_server.openai_base_url}}
    lab.templates.save("capital", "Capital of {{ country }}?", model=GPT)
    # When the user runs, Then one error names the variable and nothing is sent or stored as failed
    with pytest.raises(errors.MissingCredentials, match=r"set OPENAI_API_KEY"):
        lab.run("capital", countries(2), name="keyless", progress=False)
    assert fake_server.script.received == []
    assert lab.experiments().empty
    # And once the key is set the same start runs under the same name
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert set(lab.run("capital", countries(2), name="keyless", progress=False).runs["status"]) == {"ok"}
