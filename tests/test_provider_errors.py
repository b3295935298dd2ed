"""Issue 3: every way a provider call fails becomes one domain error the runner and the user can act on."""

from __future__ import annotations

import pytest
from fakes.calls import (
    KEYED_CASES,
    PROVIDER_CASES,
    ProviderCase,
    closed_port_url,
    complete,
    complete_case,
    stream_case,
)
from fakes.script import RETRY_AFTER_SECONDS

from promptlab_nb.core.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    InvalidProviderOptions,
    MissingCredentials,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from promptlab_nb.engine.providers import ProviderRegistry

pytest_plugins = ["fakes.fixtures"]

ENV_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
EXPECTED = {
    "auth": (AuthenticationFailed, False),
    "rate_limit": (RateLimited, True),
    "server": (ProviderUnavailable, True),
    "bad_request": (BadRequest, False),
    "context_too_long": (ContextTooLong, False),
    "content_filtered": (ContentFiltered, False),
}
PROVIDER_MESSAGES = {
    "bad_request": {
        "openai": "Unrecognized request argument supplied: foo",
        "anthropic": "temperature: range: 0..1",
        "gemini": "Invalid value at 'generation_config.temperature'",
    },
    "context_too_long": {
        "openai": "maximum context length is 128000 tokens",
        "anthropic": "prompt is too long",
        "gemini": "exceeds the maximum number of tokens",
    },
}


def assert_domain_error(error: ProviderError, kind: str, case: ProviderCase) -> None:
    expected_class, retryable = EXPECTED[kind]
    assert type(error) is expected_class, f"{case}: {kind} became {type(error).__name__}: {error}"
    assert error.retryable is retryable
    assert error.provider == case.provider
    if kind == "auth":
        assert error.env_var == ENV_VARS[case.provider]
        assert ENV_VARS[case.provider] in str(error)
    if kind == "rate_limit":
        assert error.retry_after == RETRY_AFTER_SECONDS
    if kind in PROVIDER_MESSAGES:
        assert PROVIDER_MESSAGES[kind][case.provider] in str(error), "the provider's message must be kept"


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("case", KEYED_CASES, ids=str)
def test_a_failed_call_becomes_a_domain_error(fake_server, case, kind):
    # Given a provider that fails the next call
    fake_server.script.fail(kind)

    # When a request is sent
    with pytest.raises(ProviderError) as raised:
        complete_case(case, fake_server)

    # Then the runner gets the domain error, retryable or not, with what the user needs
    assert_domain_error(raised.value, kind, case)


@pytest.mark.parametrize("kind", ["rate_limit", "auth", "content_filtered"])
@pytest.mark.parametrize("case", KEYED_CASES, ids=str)
def test_a_failed_stream_becomes_the_same_domain_error(fake_server, case, kind):
    # Given a provider that fails the next call
    fake_server.script.fail(kind)

    # When the answer is streamed
    with pytest.raises(ProviderError) as raised:
        stream_case(case, fake_server)

    # Then the error is the one a plain call gets
    assert_domain_error(raised.value, kind, case)


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_a_slow_provider_times_out_as_retryable(fake_server, case):
    # Given a provider slower than the configured timeout
    fake_server.reset(latency=1.0)
    options = {**case.options(fake_server), "timeout": 0.2}

    # When a request is sent
    with pytest.raises(ProviderTimeout) as raised:
        complete(case.spec, {case.provider: options})

    # Then it is a timeout the runner retries
    assert raised.value.retryable


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_an_unreachable_provider_is_unavailable_and_retryable(case, running_fake_server):
    # Given a base URL where nothing listens
    options = {**case.options(running_fake_server), "base_url": unreachable_base_url(case)}

    # When a request is sent
    with pytest.raises(ProviderUnavailable) as raised:
        complete(case.spec, {case.provider: options})

    # Then the runner may retry it
    assert raised.value.retryable


def unreachable_base_url(case: ProviderCase) -> str:
    url = closed_port_url()
    return url if case.provider in ("anthropic", "gemini") else f"{url}/v1"


@pytest.mark.parametrize("case", KEYED_CASES, ids=str)
def test_a_missing_key_names_the_variable_to_set_and_sends_nothing(fake_server, case):
    # Given no key in the options or the environment
    options = {key: value for key, value in case.options(fake_server).items() if key != "api_key"}

    # When a request is attempted
    with pytest.raises(MissingCredentials) as raised:
        complete(case.spec, {case.provider: options})

    # Then the error says which variable to set, and nothing reached the provider
    assert ENV_VARS[case.provider] in str(raised.value)
    assert fake_server.script.received == []


@pytest.mark.parametrize(
    ("provider", "variable", "spec"),
    [
        ("openai", "OPENAI_API_KEY", "openai:gpt-4o-mini"),
        ("anthropic", "ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"),
        ("gemini", "GEMINI_API_KEY", "gemini:gemini-2.5-flash"),
        ("gemini", "GOOGLE_API_KEY", "gemini:gemini-2.5-flash"),
    ],
)
def test_keys_come_from_the_usual_environment_variables(fake_server, monkeypatch, provider, variable, spec):
    # Given the key only in the provider's usual environment variable
    monkeypatch.setenv(variable, "env-key-123")
    base_url = fake_server.openai_base_url if provider == "openai" else fake_server.url

    # When a request is sent without a key in the options
    complete(spec, {provider: {"base_url": base_url}})

    # Then the provider received that key
    assert "env-key-123" in " ".join(fake_server.script.last.headers.values())


@pytest.mark.parametrize(
    ("variable", "spec", "url"),
    [
        ("OPENAI_BASE_URL", "openai:gpt-4o-mini", "openai_base_url"),
        ("ANTHROPIC_BASE_URL", "anthropic:claude-haiku-4-5", "url"),
        ("GOOGLE_GEMINI_BASE_URL", "gemini:gemini-2.5-flash", "url"),
    ],
)
def test_base_urls_come_from_the_sdks_environment_variables(fake_server, monkeypatch, variable, spec, url):
    # Given the base URL and the key only in the environment
    monkeypatch.setenv(variable, getattr(fake_server, url))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")

    # When a request is sent with no options at all
    response = complete(spec, {})

    # Then it reached the server named there
    assert response.text == fake_server.script.reply


def test_ollama_ignores_the_openai_environment(fake_server, monkeypatch):
    # Given OpenAI settings in the environment
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai")

    # When an Ollama model answers
    registry = ProviderRegistry()
    ollama = registry.get("ollama")

    # Then Ollama keeps its own local default and needs no key
    assert ollama.base_url == "http://localhost:11434/v1"
    assert ollama.has_credentials()


def test_an_openai_compatible_server_without_a_base_url_says_how_to_configure_it():
    # When openai-compatible is used without a base_url option
    with pytest.raises(ProviderNotConfigured) as raised:
        complete("openai-compatible:qwen2.5", {})

    # Then the error shows the option to set
    assert "base_url" in str(raised.value) and "PromptLab.providers" in str(raised.value)


def test_a_key_is_never_shown(fake_server):
    # Given a provider configured with a key, and a server that quotes the key back on failure
    secret = "sk-test-very-secret-0123"
    registry = ProviderRegistry({"openai": {"api_key": secret, "base_url": fake_server.openai_base_url}})
    provider = registry.get("openai")
    fake_server.script.fail("auth")

    # When the user looks at the provider, or the call is rejected
    with pytest.raises(AuthenticationFailed) as raised:
        complete("openai:gpt-4o-mini", {"openai": {"api_key": secret, "base_url": fake_server.openai_base_url}})

    # Then the key appears nowhere they can see
    for shown in (repr(provider), str(provider), repr(vars(provider)), str(raised.value)):
        assert secret not in shown


@pytest.mark.parametrize("case", [case for case in KEYED_CASES if case.provider != "gemini"], ids=str)
def test_an_answer_of_unexpected_shape_is_a_failed_call_not_a_crash(fake_server, case):
    # Given a server that answers 200 with a body of the wrong shape
    fake_server.script.fail("malformed")

    # When a request is sent
    with pytest.raises(ProviderError) as raised:
        complete_case(case, fake_server)

    # Then the runner gets a provider error it records and does not retry
    assert type(raised.value) is ProviderError and not raised.value.retryable
    assert case.provider in str(raised.value)


def test_a_misspelt_provider_option_is_named():
    # When a provider is configured with an option it does not have
    with pytest.raises(InvalidProviderOptions) as raised:
        ProviderRegistry({"openai": {"api-key": "sk-test"}}).get("openai")

    # Then the error names the provider and the option, not the key
    assert "openai" in str(raised.value) and "api-key" in str(raised.value)
    assert "sk-test" not in str(raised.value)
