"""Issue 16: local OpenAI-compatible servers are called on the raw path (one pooled aiohttp session,
no SDK), with the body, errors, retries and limits of the SDK path. The fault tests shared with the
SDK paths run on it too (tests/test_provider_errors.py, case ``openai-raw`` and the local providers)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fakes.calls import FAKE_KEYS, complete

import promptlab_nb as pl
from promptlab_nb.core.errors import InvalidProviderOptions
from promptlab_nb.engine.providers import ProviderRegistry

pytest_plugins = ["fakes.fixtures"]

LOCAL_MODEL = "openai-compatible:qwen2.5-7b-instruct"


@pytest.fixture
def local_lab(duckdb_url, fake_server) -> Iterator[pl.Lab]:
    lab = pl.Lab(duckdb_url)
    lab.settings.providers = {"openai-compatible": {"base_url": fake_server.openai_base_url}}
    lab.settings.max_retries = 3
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=LOCAL_MODEL)
    yield lab
    lab.close()


def run_once(lab: pl.Lab):
    return lab.run("capital", [{"country": "France"}], progress=False).runs.iloc[0]


def test_local_servers_take_the_raw_path_and_openai_keeps_its_sdk(fake_server):
    # When each provider is created with its defaults, and openai with transport="raw"
    registry = ProviderRegistry({"openai": {"api_key": "sk-test"}, "openai-compatible": {"base_url": "http://x/v1"}})
    raw_openai = ProviderRegistry({"openai": {"transport": "raw", "api_key": "sk-test"}}).get("openai")

    # Then the local servers and the openai provider asked for it use the raw path
    assert registry.get("ollama").transport == "raw"
    assert registry.get("openai-compatible").transport == "raw"
    assert registry.get("openai").transport == "aiohttp"
    assert raw_openai.transport == "raw"


def test_the_raw_path_sends_the_body_the_sdk_path_sends(fake_server):
    # Given the same request with params and a JSON schema
    schema = {"type": "object", "properties": {"capital": {"type": "string"}}, "required": ["capital"]}
    changes = {"params": {"temperature": 0.2, "max_tokens": 30, "top_k": 5}, "response_format": schema}
    bodies = {}

    # When it is sent through the SDK and through the raw path
    for transport in ("aiohttp", "raw"):
        options = {"api_key": FAKE_KEYS["openai"], "base_url": fake_server.openai_base_url, "transport": transport}
        complete("openai:gpt-4o-mini", {"openai": options}, **changes)
        bodies[transport] = fake_server.script.last

    # Then the server received the same JSON body, with the same key
    assert bodies["raw"].body == bodies["aiohttp"].body
    assert bodies["raw"].headers["Authorization"] == f"Bearer {FAKE_KEYS['openai']}"


def test_a_wait_the_server_asks_for_is_honoured_and_the_run_succeeds(local_lab, fake_server):
    # Given a local server that rate limits once and asks to wait 0 s
    fake_server.script.rate_limit_headers = {"Retry-After": "0"}
    fake_server.script.fail("rate_limit")

    # When a run calls it
    run = run_once(local_lab)

    # Then the call is retried and the run succeeds
    assert run["status"] == "ok" and run["output"] == fake_server.script.reply
    assert len(fake_server.script.received) == 2


def test_a_wait_of_a_day_fails_the_run_at_once_saying_when_to_come_back(local_lab, fake_server):
    # Given a local server that asks to come back in a day
    fake_server.script.rate_limit_headers = {"Retry-After": "86400"}
    fake_server.script.fail("rate_limit")

    # When a run calls it
    run = run_once(local_lab)

    # Then the run fails without retrying, naming the time to come back
    assert run["status"] == "error" and "RetryAfterTooLong" in run["error"]
    assert re.search(r"after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", run["error"])
    assert len(fake_server.script.received) == 1


def test_server_errors_are_retried_until_the_server_answers(local_lab, fake_server):
    # Given a local server that fails twice with HTTP 500
    fake_server.script.fail("server", times=2)

    # When a run calls it
    run = run_once(local_lab)

    # Then the run succeeds on the third call
    assert run["status"] == "ok"
    assert len(fake_server.script.received) == 3


def test_a_malformed_answer_fails_the_run_without_retrying(local_lab, fake_server):
    # Given a local server that answers 200 with a body of the wrong shape
    fake_server.script.fail("malformed")

    # When a run calls it
    run = run_once(local_lab)

    # Then the run failed once, saying which provider answered so
    assert run["status"] == "error" and "openai-compatible" in run["error"]
    assert len(fake_server.script.received) == 1


def test_the_calls_in_flight_stay_within_the_provider_limit(local_lab, fake_server):
    # Given a local server answering after 50 ms, and a limit of 3 calls in flight for it
    fake_server.reset(latency=0.05)
    local_lab.settings.provider_concurrency = {"openai-compatible": 3}

    # When 12 runs go at a concurrency of 10
    rows = [{"country": f"country {index}"} for index in range(12)]
    experiment = local_lab.run("capital", rows, concurrency=10, progress=False)

    # Then every run succeeded and no more than 3 calls were ever in flight
    assert experiment.status_counts() == {"ok": 12}
    assert fake_server.script.max_in_flight == 3


def test_an_unknown_transport_is_named_with_the_ones_to_use():
    # When openai is configured with a transport it does not have
    with pytest.raises(InvalidProviderOptions) as raised:
        ProviderRegistry({"openai": {"transport": "grpc"}}).get("openai")

    # Then the error names the choices
    assert "'raw'" in str(raised.value) and "grpc" in str(raised.value)
