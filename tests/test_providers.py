"""Issue 3: one request runs through every provider, over its official SDK, against a loopback fake."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
from fakes.calls import (
    PROVIDER_CASES,
    ProviderCase,
    case_named,
    complete,
    complete_case,
    openai_style,
    stream_case,
)

from promptlab_nb.core.errors import InvalidModelSpec, UnknownProvider
from promptlab_nb.engine.providers import ChatRequest, ChatResponse, ModelSpec, ProviderRegistry

pytest_plugins = ["fakes.fixtures"]

CAPITAL_SCHEMA = {"type": "object", "properties": {"capital": {"type": "string"}}, "required": ["capital"]}
PARAMS = {"temperature": 0.2, "max_tokens": 50, "top_p": 0.9, "stop": ["\n\n"], "seed": 7}
PROVIDER_SDKS = ("openai", "anthropic", "google.genai", "aiohttp", "httpx2")


def assert_same_answer(response: ChatResponse, case: ProviderCase) -> None:
    """The fields a user sees in the runs table, identical whichever provider answered."""
    assert response.text == "The capital of France is Paris."
    assert response.parsed is None
    assert response.finish_reason == "stop"
    assert (response.input_tokens, response.output_tokens) == (12, 7)
    assert response.latency_ms is not None and response.latency_ms > 0
    assert response.request_id, f"{case} returned no request id"
    if case.expected_cost is None:
        assert response.cost is None, f"{case}: an unpriced model must show an unknown cost, not {response.cost}"
    else:
        assert response.cost == pytest.approx(case.expected_cost)


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_the_same_request_gives_the_same_fields_from_every_provider(fake_server, case):
    # Given the fake server speaking the provider's wire format
    # When one chat request goes through the provider
    response = complete_case(case, fake_server, params=dict(PARAMS))

    # Then the answer has the same fields as from any other provider
    assert_same_answer(response, case)


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_a_json_answer_is_parsed_when_json_is_asked_for(fake_server, case):
    # Given a model that answers with a JSON object
    fake_server.reset(reply='{"capital": "Paris"}')

    # When JSON is requested, free-form and then with a schema
    free_form = complete_case(case, fake_server, response_format="json")
    with_schema = complete_case(case, fake_server, response_format=CAPITAL_SCHEMA)

    # Then both answers come back parsed
    assert free_form.parsed == with_schema.parsed == {"capital": "Paris"}


def sent_schema(provider: str, body: dict) -> dict | None:
    """Where each wire format carries the JSON schema of the answer."""
    if provider == "anthropic":
        return body["output_config"]["format"]["schema"]
    if provider == "gemini":
        return body["generationConfig"]["responseJsonSchema"]
    return body["response_format"]["json_schema"]["schema"]


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_a_json_schema_reaches_the_provider(fake_server, case):
    # Given a request for an answer following a JSON schema
    fake_server.reset(reply='{"capital": "Paris"}')

    # When it is sent
    complete_case(case, fake_server, response_format=CAPITAL_SCHEMA)

    # Then the provider received the schema in its own format
    assert sent_schema(case.provider, fake_server.script.last.body) == CAPITAL_SCHEMA


def test_openai_receives_the_generation_params_under_its_names(fake_server):
    # When a request with every generation param goes to OpenAI
    complete("openai:gpt-4o-mini", {"openai": openai_style("sk-test")(fake_server)}, params=dict(PARAMS))

    # Then OpenAI got them, max_tokens as max_completion_tokens
    body = fake_server.script.last.body
    assert body["messages"][0] == {"role": "system", "content": "You are a terse assistant."}
    sent = {name: body.get(name) for name in ("temperature", "max_completion_tokens", "top_p", "stop", "seed")}
    assert sent == {"temperature": 0.2, "max_completion_tokens": 50, "top_p": 0.9, "stop": ["\n\n"], "seed": 7}


def test_params_left_unset_are_not_sent(fake_server):
    # When a request carries params set to None, as a template without them renders
    for case in PROVIDER_CASES:
        complete_case(case, fake_server, params={"temperature": None, "seed": None, "max_tokens": 20})

    # Then no provider received them
    for received in fake_server.script.received:
        assert "temperature" not in json.dumps(received.body) and "seed" not in json.dumps(received.body)


def test_local_servers_receive_max_tokens_under_its_classic_name(fake_server):
    # When a request goes to an Ollama server
    complete("ollama:llama3.2", {"ollama": openai_style()(fake_server)}, params={"max_tokens": 50})

    # Then it got max_tokens, the name older OpenAI-compatible servers know
    assert fake_server.script.last.body["max_tokens"] == 50


def test_anthropic_receives_the_system_prompt_apart_and_no_seed(fake_server):
    # When a request with a system message and every generation param goes to Anthropic
    case = case_named("anthropic")
    complete_case(case, fake_server, params=dict(PARAMS))

    # Then the system prompt travels apart, stop as stop_sequences, and the seed it lacks is left out
    body = fake_server.script.last.body
    assert body["system"] == "You are a terse assistant."
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert (body["max_tokens"], body["stop_sequences"], body["temperature"], body["top_p"]) == (50, ["\n\n"], 0.2, 0.9)
    assert "seed" not in body


def test_anthropic_gets_a_default_max_tokens_it_requires(fake_server):
    # When a request without max_tokens goes to Anthropic
    case = case_named("anthropic")
    complete_case(case, fake_server)

    # Then the request still carries the max_tokens the API requires
    assert fake_server.script.last.body["max_tokens"] == 4096


def test_gemini_receives_the_generation_config(fake_server):
    # When a request with every generation param goes to Gemini
    case = case_named("gemini")
    complete_case(case, fake_server, params=dict(PARAMS))

    # Then the params arrive in generationConfig and the system prompt as systemInstruction
    body = fake_server.script.last.body
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 50,
        "topP": 0.9,
        "stopSequences": ["\n\n"],
        "seed": 7,
    }
    assert body["systemInstruction"]["parts"] == [{"text": "You are a terse assistant."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}]


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=str)
def test_streaming_yields_the_answer_piece_by_piece(fake_server, case):
    # When the answer is streamed
    chunks = stream_case(case, fake_server)

    # Then it arrives in several pieces that make up the whole answer
    assert len(chunks) > 1
    assert "".join(chunks) == "The capital of France is Paris."


def test_a_truncated_answer_says_so(fake_server):
    # Given a model that stops at the token limit
    fake_server.reset(finish="length")

    # When each provider answers
    reasons = {case.provider: complete_case(case, fake_server).finish_reason for case in PROVIDER_CASES}

    # Then every one reports the same finish reason
    assert set(reasons.values()) == {"length"}


def test_mock_models_answer_offline_with_every_field():
    # When mock:echo answers
    response = complete("mock:echo", {})

    # Then it repeats the prompt, with tokens, latency and a zero cost
    assert response.text == "You are a terse assistant.\n\nWhat is the capital of France?"
    assert (response.finish_reason, response.input_tokens, response.cost) == ("stop", 11, 0.0)
    assert response.latency_ms is not None and response.request_id


def test_an_unknown_provider_lists_the_known_ones():
    # When a model spec names a provider nobody registered
    with pytest.raises(UnknownProvider) as raised:
        ProviderRegistry().get("openia")

    # Then the error names every provider the user could have meant
    for known in ("openai", "anthropic", "gemini", "ollama", "openai-compatible", "mock"):
        assert known in str(raised.value)


@pytest.mark.parametrize("spec", ["gpt-4o-mini", "openai:", ":gpt-4o", ""])
def test_a_malformed_model_spec_shows_the_expected_form(spec):
    # When a spec is not provider:model
    with pytest.raises(InvalidModelSpec) as raised:
        ModelSpec.parse(spec)

    # Then the error shows the form with an example
    assert "provider:model" in str(raised.value)


def test_a_plugin_registers_a_provider_through_the_entry_point_group(tmp_path, monkeypatch):
    # Given an installed package declaring a provider in the promptlab_nb.providers group
    install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    # When its model spec is used
    async def ask() -> ChatResponse:
        registry = ProviderRegistry()
        return await registry.get("shout").complete(ChatRequest([{"role": "user", "content": "hi"}], model="any"))

    # Then the plugin answers
    assert asyncio.run(ask()).text == "HI"


def install_plugin(folder) -> None:
    (folder / "shout_provider.py").write_text(
        textwrap.dedent(
            """
            from promptlab_nb.engine.providers import ChatResponse, Provider

            class ShoutProvider(Provider):
                name = "shout"

                async def complete(self, request):
                    return ChatResponse(text=request.messages[-1]["content"].upper())
            """
        )
    )
    dist_info = folder / "shout_provider-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-provider\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[promptlab_nb.providers]\nshout = shout_provider:ShoutProvider\n")


def test_importing_promptlab_nb_imports_no_provider_sdk():
    # When a fresh interpreter imports promptlab_nb, then lists the providers
    loaded_sdks = (
        f"sorted(m for m in sys.modules if m.split('.')[0] in {list(PROVIDER_SDKS)!r} or m.startswith('google.genai'))"
    )
    script = (
        "import json, sys, promptlab_nb\n"
        f"imported = {loaded_sdks}\n"
        "from promptlab_nb.engine.providers.catalog import providers_table\n"
        "providers_table()\n"
        f"print(json.dumps([imported, {loaded_sdks}]))\n"
    )
    imported, listed = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )

    # Then the import loaded no provider SDK or HTTP transport
    assert imported == []
    # And listing the providers loaded none either, except httpx2, which genai-prices (the price list) imports
    assert [module for module in listed if module.split(".")[0] != "httpx2"] == []
