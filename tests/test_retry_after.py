"""Issue 13: a provider's Retry-After is honoured up to PromptLab.max_retry_wait; a longer wait
fails the call at once with the time to come back (real SDKs against the loopback fake server)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.engine.providers.failures import retry_after_seconds

pytest_plugins = ["fakes.fixtures"]

MODELS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}
PROVIDER_OPTIONS = {
    "openai": lambda server: {"api_key": "sk-test", "base_url": server.openai_base_url},
    "anthropic": lambda server: {"api_key": "sk-ant-test", "base_url": server.url},
}


@pytest.fixture
def provider_lab(duckdb_url, fake_server) -> Iterator[pl.Lab]:
    lab = pl.Lab(duckdb_url)
    lab.settings.providers = {name: options(fake_server) for name, options in PROVIDER_OPTIONS.items()}
    lab.settings.max_retries = 3
    yield lab
    lab.close()


def run_once(lab: pl.Lab, provider: str) -> pd.Series:
    """One run of a one-row experiment with ``provider``'s model; the stored run."""
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=MODELS[provider])
    return lab.run("capital", [{"country": "France"}], progress=False).runs.iloc[0]


@pytest.mark.parametrize(
    ("provider", "headers"),
    [("openai", {"Retry-After": "86400"}), ("anthropic", {"Retry-After": "86400"})],
)
def test_a_retry_after_of_a_day_fails_the_run_at_once_saying_when_to_come_back(
    provider_lab, fake_server, provider, headers
):
    # Given a provider that rate limits and asks to come back in a day
    fake_server.script.rate_limit_headers = headers
    fake_server.script.fail("rate_limit")
    # When a run calls it
    run = run_once(provider_lab, provider)
    # Then the run fails without retrying, naming the wait, the time to come back and the setting
    assert run["status"] == "error"
    assert "RetryAfterTooLong" in run["error"]
    assert "asked to wait 86400 s" in run["error"]
    assert re.search(r"after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", run["error"])
    assert "PromptLab.max_retry_wait" in run["error"]
    assert len(fake_server.script.received) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_infinite_retry_after_ms_fails_the_run_instead_of_sleeping_forever(provider_lab, fake_server, provider):
    # Given a provider that asks for an infinite wait in milliseconds
    fake_server.script.rate_limit_headers = {"retry-after-ms": "inf"}
    fake_server.script.fail("rate_limit")
    # When a run calls it
    run = run_once(provider_lab, provider)
    # Then the run fails at once and says there is no time given to come back
    assert run["status"] == "error"
    assert "RetryAfterTooLong" in run["error"] and "without a limit" in run["error"]
    assert len(fake_server.script.received) == 1


def test_a_wait_within_the_setting_is_honoured_and_the_run_succeeds(provider_lab, fake_server):
    # Given a cap of 120 s and a provider asking to wait 0 s once
    fake_server.script.rate_limit_headers = {"Retry-After": "0"}
    fake_server.script.fail("rate_limit")
    # When a run calls it
    run = run_once(provider_lab, "openai")
    # Then the call is retried and the run succeeds
    assert run["status"] == "ok"
    assert len(fake_server.script.received) == 2


def test_a_lower_max_retry_wait_refuses_a_wait_the_default_would_allow(provider_lab, fake_server):
    # Given a cap of 5 s and a provider asking to wait 7 s
    provider_lab.settings.max_retry_wait = 5
    fake_server.script.rate_limit_headers = {"Retry-After": "7"}
    fake_server.script.fail("rate_limit")
    # When a run calls it
    run = run_once(provider_lab, "openai")
    # Then it fails at once, naming the cap
    assert "RetryAfterTooLong" in run["error"] and "(5 s)" in run["error"]
    assert len(fake_server.script.received) == 1


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "nan"}, None),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "inf"}, float("inf")),
        ({"retry-after-ms": "1500"}, 1.5),
    ],
)
def test_unusable_retry_after_values_become_no_wait_or_an_endless_one(headers, seconds):
    # Given / When a header that is not a plain wait is read / Then it is none, zero or endless, never NaN
    assert retry_after_seconds(headers) == seconds
