"""Issue 13: the response cache keeps only answers a step accepted, and tells servers apart
(real OpenAI SDK against loopback fake servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.server import FakeServer

from promptlab_nb.engine.providers import ProviderRegistry

pytest_plugins = ["fakes.fixtures"]

LOCAL_MODEL = "openai-compatible:qwen2.5-7b-instruct"
GPT = "openai:gpt-4o-mini"
FRANCE = [{"country": "France"}]
WHOLE_JSON = '{"capital": "Paris"}'
CUT_JSON = '{"capital": "Pa'


@pytest.fixture
def second_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def serve_from(lab, server: FakeServer) -> None:
    lab.settings.providers = {"openai-compatible": {"base_url": server.openai_base_url}}


def save_capital(lab, model: str = LOCAL_MODEL) -> None:
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=model)


def save_json_pipeline(lab) -> None:
    """A pipeline whose first step reads its answer as JSON and whose second step uses it."""
    lab.templates.save("capital_json", "The capital of {{ country }} as JSON.", model=LOCAL_MODEL)
    lab.templates.save("sentence", "Write: the capital is {{ answer.capital }}.", model="mock:echo")
    lab.pipelines.save(
        "capital_sentence",
        [
            {"template": "capital_json", "output": "answer", "parse": "json"},
            {"template": "sentence", "output": "sentence"},
        ],
    )


def test_a_cut_off_json_answer_is_not_cached_so_resume_asks_again(lab, fake_server):
    # Given a server whose answer is cut off by the token limit, so the step cannot read its JSON
    serve_from(lab, fake_server)
    save_json_pipeline(lab)
    fake_server.script.reply, fake_server.script.finish = CUT_JSON, "length"
    failed = lab.run("capital_sentence", FRANCE, name="capitals", progress=False)
    assert failed.runs["status"].tolist() == ["error"]
    assert "not valid JSON" in failed.runs["error"].iloc[0]
    # When the server answers in full and the experiment is resumed
    fake_server.script.reply, fake_server.script.finish = WHOLE_JSON, "stop"
    runs = lab.experiment("capitals").resume(progress=False).runs
    # Then the step asked again instead of replaying the failure, and the run succeeds
    assert runs["status"].tolist() == ["ok"]
    assert runs["output"].tolist() == ["Write: the capital is Paris."]
    assert len(fake_server.script.received) == 2


def test_an_unparseable_json_answer_with_a_whole_finish_is_not_cached(lab, fake_server):
    # Given a server that finishes normally with text that is not JSON
    serve_from(lab, fake_server)
    save_json_pipeline(lab)
    fake_server.script.reply = "Paris, of course."
    lab.run("capital_sentence", FRANCE, name="capitals", progress=False)
    # When it answers JSON and the experiment is resumed
    fake_server.script.reply = WHOLE_JSON
    runs = lab.experiment("capitals").resume(progress=False).runs
    # Then the run succeeds with the new answer
    assert runs["status"].tolist() == ["ok"]
    assert len(fake_server.script.received) == 2


@pytest.mark.parametrize("finish", ["length", "content_filter"])
def test_a_truncated_or_filtered_answer_is_asked_again_by_the_next_experiment(lab, fake_server, finish):
    # Given an experiment whose answer was cut off or stopped by a content filter
    serve_from(lab, fake_server)
    save_capital(lab)
    fake_server.script.reply, fake_server.script.finish = "The capital of France is", finish
    lab.run("capital", FRANCE, name="first", progress=False)
    # When the same prompt runs again and the server now answers in full
    fake_server.script.reply, fake_server.script.finish = "The capital of France is Paris.", "stop"
    runs = lab.run("capital", FRANCE, name="second", progress=False).runs
    # Then the answer is a new call, not the stored partial one
    assert runs["output"].tolist() == ["The capital of France is Paris."]
    assert runs["cache_hit"].tolist() == [False]
    assert len(fake_server.script.received) == 2
    # And the whole answer is cached for the next time
    assert lab.run("capital", FRANCE, name="third", progress=False).runs["cache_hit"].tolist() == [True]
    assert len(fake_server.script.received) == 2


def test_one_model_name_on_two_servers_gets_each_servers_answer(lab, fake_server, second_server):
    # Given an openai-compatible model answered by the first server
    fake_server.script.reply, second_server.script.reply = "Answer from server A", "Answer from server B"
    save_capital(lab)
    serve_from(lab, fake_server)
    lab.run("capital", FRANCE, name="on_a", progress=False)
    # When base_url points at a second server with the same model name
    serve_from(lab, second_server)
    on_b = lab.run("capital", FRANCE, name="on_b", progress=False).runs
    # Then the second server is asked and its answer kept, not the first server's from the cache
    assert on_b["output"].tolist() == ["Answer from server B"]
    assert on_b["cache_hit"].tolist() == [False]
    assert len(second_server.script.received) == 1
    # And back on the first server its answer comes from the cache
    serve_from(lab, fake_server)
    again = lab.run("capital", FRANCE, name="on_a_again", progress=False).runs
    assert again["output"].tolist() == ["Answer from server A"] and again["cache_hit"].tolist() == [True]
    assert len(fake_server.script.received) == 1


def test_changing_openai_base_url_is_not_answered_from_the_old_servers_cache(
    lab, fake_server, second_server, monkeypatch
):
    # Given an OpenAI model reached through OPENAI_BASE_URL at a first server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_server.script.reply, second_server.script.reply = "Answer from server A", "Answer from server B"
    save_capital(lab, GPT)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.openai_base_url)
    lab.run("capital", FRANCE, name="on_a", progress=False)
    # When OPENAI_BASE_URL changes to another server
    monkeypatch.setenv("OPENAI_BASE_URL", second_server.openai_base_url)
    runs = lab.run("capital", FRANCE, name="on_b", progress=False).runs
    # Then that server answers
    assert runs["output"].tolist() == ["Answer from server B"]
    assert runs["cache_hit"].tolist() == [False]


def test_the_servers_identity_leaves_out_credentials_in_its_url():
    # Given a base URL carrying a user, a password and a key in its query
    options = {"openai-compatible": {"base_url": "http://user:s3cret@LocalHost:8000/v1/?api_key=k3y"}}
    # When its identity for the cache key is taken
    endpoint = ProviderRegistry(options).get("openai-compatible").endpoint
    # Then it names the server and nothing secret
    assert endpoint == "http://localhost:8000/v1"
