"""Issue 3: lab.models() lists providers, credentials and prices; costs are known or honestly unknown."""

from __future__ import annotations

import math
import socket

import pandas as pd
import pytest
from fakes.calls import complete, openai_style

from promptlab_nb.engine.providers.catalog import providers_table
from promptlab_nb.engine.providers.pricing import Price, PriceTable
from promptlab_nb.engine.providers.structured import parse_json_if_asked

pytest_plugins = ["fakes.fixtures"]


def row_of(table: pd.DataFrame, spec: str) -> pd.Series:
    rows = table[table["spec"] == spec]
    assert len(rows) == 1, f"{spec} should be listed once in\n{table.to_string()}"
    return rows.iloc[0]


def credentials_by_provider(table: pd.DataFrame) -> dict[str, bool]:
    return table.groupby("provider")["credentials"].all().to_dict()


def test_the_table_lists_every_provider_with_its_models_and_prices():
    # When the user asks which models there are
    table = providers_table()

    # Then every built-in provider is there, with list prices per million tokens
    assert set(table["provider"]) >= {"openai", "anthropic", "gemini", "ollama", "openai-compatible", "mock"}
    mini = row_of(table, "openai:gpt-4o-mini")
    assert (mini["input_per_million"], mini["output_per_million"]) == (0.15, 0.60)
    assert row_of(table, "anthropic:claude-haiku-4-5")["input_per_million"] == 1.00
    assert row_of(table, "gemini:gemini-2.5-flash")["output_per_million"] == 2.50
    assert row_of(table, "mock:echo")["input_per_million"] == 0.0


def test_the_table_says_which_providers_have_credentials_without_showing_keys(monkeypatch):
    # Given only an OpenAI key in the environment
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-do-not-print-42")

    # When the table is shown
    table = providers_table()

    # Then OpenAI has credentials, Anthropic and Gemini do not, local servers need none
    credentials = credentials_by_provider(table)
    assert credentials["openai"] and credentials["ollama"] and credentials["mock"]
    assert not credentials["anthropic"] and not credentials["gemini"]
    assert row_of(table, "anthropic:claude-haiku-4-5")["env_var"] == "ANTHROPIC_API_KEY"
    # And the key is nowhere in it
    assert "sk-live-do-not-print-42" not in table.to_string() + table.to_html()


def test_an_openai_compatible_server_counts_as_configured_once_it_has_a_base_url():
    # When the table is built without and with a base URL for openai-compatible
    before = providers_table()
    after = providers_table({"openai-compatible": {"base_url": "http://127.0.0.1:8000/v1"}})

    # Then it is usable only once the base URL is set
    assert not credentials_by_provider(before)["openai-compatible"]
    assert credentials_by_provider(after)["openai-compatible"]


def test_user_prices_override_and_extend_the_built_in_ones(fake_server):
    # Given the user's own prices for one known and one new model
    prices = {"gpt-4o-mini": {"input": 1.0, "output": 2.0}, "my-finetune": [3.0, 4.0]}
    options = {"openai": {**openai_style("sk-test")(fake_server), "prices": prices}}

    # When the table is shown and the model answers
    table = providers_table(options)
    response = complete("openai:gpt-4o-mini", options)

    # Then both show the user's prices
    assert row_of(table, "openai:my-finetune")["output_per_million"] == 4.0
    assert response.cost == pytest.approx((12 * 1.0 + 7 * 2.0) / 1_000_000)


def test_an_unpriced_model_has_an_unknown_cost_not_zero(fake_server):
    # When a model without a price answers
    response = complete("openai:gpt-7-preview-ultra", {"openai": openai_style("sk-test")(fake_server)})

    # Then its cost is unknown
    assert response.cost is None


def test_a_dated_snapshot_costs_what_its_model_costs():
    # Given the price list of OpenAI and Anthropic
    openai, anthropic = PriceTable("openai"), PriceTable("anthropic")

    # Then dated snapshots share their model's price, and a longer name is not mistaken for a shorter one
    assert openai.price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)
    assert anthropic.price("claude-haiku-4-5-20251001") == Price(1.00, 5.00)
    assert openai.price("gpt-4o-mini-transcribe") != openai.price("gpt-4o-mini")


def test_a_model_the_catalog_does_not_list_costs_its_list_price_from_the_bundled_data(monkeypatch):
    # Given no network at all
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    openai, anthropic = PriceTable("openai"), PriceTable("anthropic")

    # When models that lab.models() does not list are priced
    # Then they cost their list prices, read from genai-prices' bundled data
    assert "gpt-4-turbo" not in openai.models()
    assert openai.price("gpt-4-turbo") == Price(10.00, 30.00)
    assert anthropic.price("claude-3-opus-20240229") == Price(15.00, 75.00)


def test_a_cost_is_unknown_when_the_provider_reports_no_usage():
    # Then a missing token count makes the cost unknown
    assert Price(1.0, 2.0).cost(None, 10) is None
    assert math.isclose(Price(1.0, 2.0).cost(1_000_000, 500_000), 2.0)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [('{"a": 1}', {"a": 1}), ('```json\n{"a": 1}\n```', {"a": 1}), ("not json", None)],
)
def test_json_answers_are_parsed_even_inside_a_code_fence(text, parsed):
    # Then a JSON answer is parsed, fenced or not, and anything else is left unparsed
    assert parse_json_if_asked(text, "json") == parsed
