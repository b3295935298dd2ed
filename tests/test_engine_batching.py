"""Issue 16: the engine's batched work gives what the per-run work gave: the same prompts, the same cache
keys (an older store's cache still answers), the same timeouts; and a long run of instant answers
still lets the kernel's interrupt through."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading

import pytest

import promptlab_nb as pl
from promptlab_nb.core.errors import ProviderTimeout
from promptlab_nb.engine.cache import CacheKeys, cache_key
from promptlab_nb.engine.limits import within
from promptlab_nb.engine.providers import ChatRequest, ModelSpec, ProviderRegistry
from promptlab_nb.engine.runner import RunTask, prepare_first_calls
from promptlab_nb.engine.steps import StepChain, TemplateStep
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
