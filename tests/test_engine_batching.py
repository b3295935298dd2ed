"""Issue 16: the engine's batched work gives what the per-run work gave: the same prompts, the same cache
keys (an older store's cache still answers), the same timeouts; answers that need no waiting (the cache,
an offline model) come without a coroutine, only where nothing else is owed; and a long run of instant
answers still lets the kernel's interrupt through."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading

import pytest

import promptlab_nb as pl
from promptlab_nb.core.errors import BadRequest, ProviderTimeout, RateLimited
from promptlab_nb.engine.cache import CacheKeys, ResponseCache, cache_key
from promptlab_nb.engine.limits import Limits, RetryPolicy, within
from promptlab_nb.engine.providers import ChatRequest, ChatResponse, ModelSpec, ProviderRegistry
from promptlab_nb.engine.runner import RunTask, prepare_first_calls
from promptlab_nb.engine.steps import ModelCaller, StepChain, TemplateStep
from promptlab_nb.engine.templating import PromptTemplate

SPEC = ModelSpec("openai-compatible", "qwen2.5")


@pytest.mark.parametrize(
    ("body", "values", "expected"),
    [
        ("Hello {{ name }}!", {"name": "Zoë"}, [{"role": "user", "content": "Hello Zoë!"}]),
        ("{{ a }}{{ b }} and {{ a }}", {"a": 1, "b": None}, [{"role": "user", "content": "1None and 1"}]),
        ("Data: {{ row }}", {"row": {"x": [1.5, True]}}, [{"role": "user", "content": "Data: {'x': [1.5, True]}"}]),
        (
            "system:\r\nBe {{ tone }}.\r\nuser:\r\n  {{ question }}  \r\n",
            {"tone": "terse", "question": "Why?"},
            [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Why?"}],
        ),
        ("{{ range }} {{ x }}", {"x": "y"}, None),
    ],
)
def test_a_template_of_plain_variables_renders_as_jinja_writes_it(body, values, expected):
    # Given a template that only inserts variables, and the same template through Jinja itself
    # (the ``string`` filter, which writes what ``str`` does, keeps it from the plain path)
    plain = PromptTemplate(body)
    through_jinja = PromptTemplate(body.replace(" }}", "|string }}"))

    # When both render the same values
    rendered = plain.render(values)

    # Then they give the same messages, and the expected ones
    assert rendered == through_jinja.render(values)
    if expected is not None:
        assert rendered == expected


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:8000/v1"])
@pytest.mark.parametrize("response_format", [None, "json", {"type": "object", "properties": {"ü": {"type": "string"}}}])
def test_cache_keys_are_the_ones_older_stores_hold(endpoint, response_format):
    # Given a request with unicode, params and a response format
    messages = [{"role": "system", "content": "Réponds « court »."}, {"role": "user", "content": 'Say "hi"'}]
    params = {"temperature": 0.2, "stop": ["\n"], "seed": 7}
    request = ChatRequest(messages, SPEC.model, params, response_format)

    # When its key is computed per call and for many requests at once
    per_call = cache_key(SPEC, request, 2, endpoint)
    ahead = CacheKeys(SPEC, params, response_format, endpoint).key(messages, 2)

    # Then both are the SHA-256 of the JSON list earlier versions hashed
    parts = [SPEC.provider, SPEC.model, params, messages, response_format, 2] + ([endpoint] if endpoint else [])
    stored = hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    assert per_call == ahead == stored


def test_a_prompt_is_rendered_once_per_data_row_whatever_the_models_and_repeats():
    # Given two variants of one template on two models, two rows and three repeats
    template = PromptTemplate("Capital of {{ country }}?")
    steps = [TemplateStep(1, "capital", template, "capital@1", model, {}) for model in ("mock:echo", "mock:other")]
    rows = [{"country": "France"}, {"country": "Peru"}]
    tasks = [
        RunTask("e", f"v{index}", "template", row_index, repeat, rows[row_index], StepChain([step]))
        for index, step in enumerate(steps)
        for row_index in range(2)
        for repeat in range(3)
    ]

    # When their first calls are prepared
    prepare_first_calls(tasks, ProviderRegistry())

    # Then the tasks of a row share one rendered prompt, and each cell has its own cache key
    for row_index in range(2):
        prompts = {id(task.first_call.request.messages) for task in tasks if task.row_index == row_index}
        assert len(prompts) == 1
    assert len({task.first_call.key for task in tasks}) == len(tasks)
    assert tasks[0].first_call.request.messages == [{"role": "user", "content": "Capital of France?"}]


def test_a_row_that_cannot_be_rendered_is_prepared_without_a_call():
    # Given a task whose row lacks the template's variable
    step = TemplateStep(1, "capital", PromptTemplate("Capital of {{ country }}?"), "capital@1", "mock:echo", {})
    task = RunTask("e", "v", "template", 0, 0, {"city": "Lima"}, StepChain([step]))

    # When it is prepared
    prepare_first_calls([task], ProviderRegistry())

    # Then it has no call: the run renders it again and records why
    assert task.prepared and task.first_call is None


def test_a_call_slower_than_its_time_limit_is_a_provider_timeout():
    # When a call takes longer than its limit
    with pytest.raises(ProviderTimeout) as raised:
        asyncio.run(within(asyncio.sleep(5), 0.05))

    # Then it is the retryable timeout
    assert raised.value.retryable and "0.05 s" in str(raised.value)


def test_a_cancelled_call_is_cancelled_not_timed_out():
    # Given a call under a long time limit
    async def cancel_while_calling() -> None:
        call = asyncio.ensure_future(within(asyncio.sleep(5), 60))
        await asyncio.sleep(0.01)
        call.cancel()
        await call

    # When it is cancelled (the kernel's interrupt), Then the cancellation goes through as such
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_while_calling())


def test_an_experiment_of_instant_answers_can_be_interrupted_part_way(lab):
    # Given an experiment of many runs that an offline model answers at once
    started = threading.Event()
    pl.mock_model("instant", lambda messages: started.set() or "hello")
    lab.templates.save("hello", "Hello {{ name }}", model="mock:instant")
    people = [{"name": f"person {index}"} for index in range(20_000)]

    # When the kernel's interrupt cancels it once it has begun answering
    async def interrupt_soon() -> None:
        running = asyncio.ensure_future(lab.arun("hello", people, name="instant", progress=False))
        while not started.is_set():
            await asyncio.sleep(0.001)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(interrupt_soon())

    # Then it stopped part-way, the runs it finished stored
    experiment = lab.experiment("instant")
    assert experiment.status == "interrupted"
    assert 0 < experiment.status_counts().get("ok", 0) < len(people)


def _caller(lab, rate_limits=None) -> ModelCaller:
    return ModelCaller(ProviderRegistry(), Limits(4, rate_limits=rate_limits), RetryPolicy(), ResponseCache(lab.db))


def _asked_at_once(caller: ModelCaller, model: str, *, looked_up: bool = True) -> tuple[ChatResponse, bool] | None:
    spec = ModelSpec("mock", model)
    request = ChatRequest([{"role": "user", "content": "Hi"}], model, {}, None)
    key = cache_key(spec, request, 0)
    if looked_up:
        caller.cache.prefetch([key])
    return caller.answer_at_once(spec, request, key)


def test_an_offline_answer_comes_at_once_and_then_from_the_cache(lab):
    # Given a model caller over the offline models, which have no limits of their own
    caller = _caller(lab)

    # When mock:echo is asked the same request twice without waiting
    first, again = _asked_at_once(caller, "echo"), _asked_at_once(caller, "echo")

    # Then the first answer is one new call, cached; the second comes from the cache
    assert first is not None and first[0].text == "Hi" and first[1] is False
    assert again is not None and again[0].text == "Hi" and again[1] is True
    assert caller.calls == 1 and len(caller.cache.take_pending()) == 1


def test_an_answer_owed_a_wait_a_failure_a_pace_or_a_look_up_is_not_given_at_once(lab):
    # Given a slow model, a model with a failure queued, and the offline models under a rate limit
    pl.mock_model("slow", "later", latency=0.5)
    pl.mock_model("failing", "never", errors=[BadRequest("refused", provider="mock")])
    caller, paced = _caller(lab), _caller(lab, rate_limits={"mock": {"rpm": 60}})

    # When each is asked without waiting, and mock:echo for a key not looked up in the store yet
    answers = [
        _asked_at_once(caller, "slow"),
        _asked_at_once(caller, "failing"),
        _asked_at_once(paced, "echo"),
        _asked_at_once(caller, "echo", looked_up=False),
    ]

    # Then none is answered there (each goes through the awaited call) and no call is counted
    assert answers == [None, None, None, None]
    assert caller.calls == paced.calls == 0 and not caller.cache.take_pending()


def test_a_model_that_fails_at_once_stores_a_failed_run_and_the_other_runs(lab):
    # Given an offline model that answers at once but refuses one of the rows
    def refuse_atlantis(messages: list[dict[str, str]]) -> str:
        if "Atlantis" in messages[-1]["content"]:
            raise BadRequest("no such country", provider="mock")
        return "a capital"

    pl.mock_model("refusing", refuse_atlantis)
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:refusing")

    # When it runs over three rows
    experiment = lab.run("capital", [{"country": c} for c in ("France", "Atlantis", "Peru")], progress=False)

    # Then the experiment completed with the refused row a failed run naming the model's error
    runs = experiment.runs.sort_values("row_index")
    assert experiment.status == "completed"
    assert runs["status"].tolist() == ["ok", "error", "ok"]
    assert runs["error"].iloc[1] == "BadRequest: no such country"


def test_a_retryable_failure_of_an_answer_at_once_is_retried(lab):
    # Given an offline model that is rate limited on its first call only
    calls = []

    def limited_once(messages: list[dict[str, str]]) -> str:
        calls.append(messages)
        if len(calls) == 1:
            raise RateLimited("slow down", provider="mock", retry_after=0.01)
        return "Paris"

    pl.mock_model("limited_once", limited_once)
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:limited_once")

    # When it runs over one row
    runs = lab.run("capital", [{"country": "France"}], progress=False).runs

    # Then the run is answered by the retry
    assert runs["status"].tolist() == ["ok"] and runs["output"].tolist() == ["Paris"]
    assert len(calls) == 2
