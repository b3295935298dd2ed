"""Hostile templates: a body cannot make compiling or rendering compute, or hold, more than the limits allow."""

from __future__ import annotations

import tracemalloc

import pytest

from promptlab_nb.core import errors
from promptlab_nb.engine.templating import MAX_RENDER_STEPS, PromptTemplate, TemplateLimits


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("{{ 9**(9**7) }}", 1),
        ("{{ 'ab'*10**8 }}", 1),
        ("system:\nBe brief.\nuser:\n{{ 'ab' * 5 ** 20 }}", 4),
    ],
)
def test_constant_arithmetic_too_large_to_compute_is_refused_when_compiled(body, line):
    # When a template multiplies or raises constants to a size no prompt needs
    with pytest.raises(errors.InvalidTemplate) as raised:
        PromptTemplate(body, "hostile")

    # Then it is refused as an invalid template that says where and why
    assert raised.value.line == line
    assert "limit" in raised.value.reason


def test_compiling_does_not_compute_the_template_output():
    # Given a filter call on constants that would build 50 MB of text
    tracemalloc.start()

    # When it is compiled
    template = PromptTemplate("{{ 'x'|center(50000000) }}", "hostile")

    # Then nothing that large was built, and rendering it stops at the rendered-size limit
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000
    with pytest.raises(errors.RenderFailed, match="max_rendered_chars"):
        template.render()


@pytest.mark.parametrize(
    ("body", "values"),
    [
        ("{{ text * times }}", {"text": "ab", "times": 10**8}),
        ("{{ items * times }}", {"items": [0, 1], "times": 10**8}),
        ("{{ 2 ** power }}", {"power": 100_000}),
    ],
)
def test_arithmetic_on_row_values_is_checked_before_it_runs(body, values):
    with pytest.raises(errors.UnsafeTemplateOperation, match="limit"):
        PromptTemplate(body).render(values)


def test_ordinary_arithmetic_still_renders():
    template = PromptTemplate("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ n * 2 }} {{ 1.5 ** 2 }}")
    assert template.render(n=5) == [{"role": "user", "content": "1024 ababab 10 2.25"}]


def test_a_prompt_longer_than_the_rendered_limit_is_a_render_error():
    # Given a template that repeats a row value, and a limit of 1,000 characters
    template = PromptTemplate(
        "{% for _ in range(n) %}{{ text }}{% endfor %}", limits=TemplateLimits(rendered_chars=1000)
    )

    # When a row makes it longer than the limit, then shorter
    with pytest.raises(errors.RenderFailed, match="1,000 characters"):
        template.render(n=200, text="0123456789")
    short = template.render(n=100, text="0123456789")

    # Then only the longer one is refused
    assert len(short[0]["content"]) == 1000


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done",
        "{% for i in items %}{% for j in items %}{% for k in items %}{% endfor %}{% endfor %}{% endfor %}done",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    ],
    ids=["nested-ranges", "nested-loops-over-data", "macro-calling-itself-twice"],
)
def test_a_template_that_would_loop_or_call_without_end_is_a_render_error(body):
    # Given a template that outputs nothing for billions of loop turns or calls
    template = PromptTemplate(body)

    # When it is rendered with a row of 1,000 items
    # Then rendering stops at the limit of loop turns and calls, and says what to do
    with pytest.raises(errors.RenderFailed, match=f"more than {MAX_RENDER_STEPS:,} loop turns and calls"):
        template.render(items=list(range(1000)))


def test_loops_within_the_limit_render_as_jinja_renders_them():
    # Given a template with a loop that reads its loop variables and one with an else branch
    loops = PromptTemplate(
        "{% for x in items %}{{ loop.index }}/{{ loop.length }} {{ x }}{% if loop.last %}!{% endif %} {% endfor %}"
    )
    empty = PromptTemplate("{% for k, v in mapping|dictsort %}{{ k }}={{ v }}{% else %}none{% endfor %}")

    # When they render
    rendered = [loops.render(items=["a", "b"]), empty.render(mapping={}), empty.render(mapping={"b": 1, "a": 2})]

    # Then the output is Jinja's
    assert [messages[0]["content"] for messages in rendered] == ["1/2 a 2/2 b!", "none", "a=2b=1"]


def test_a_body_longer_than_the_limit_is_refused():
    with pytest.raises(errors.InvalidTemplate, match="max_template_chars"):
        PromptTemplate("x" * 101, limits=TemplateLimits(body_chars=100))


@pytest.mark.parametrize(
    "body",
    ["{{ text | no_such_filter }}", "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"],
)
def test_every_compile_error_is_an_invalid_template(body):
    with pytest.raises(errors.InvalidTemplate):
        PromptTemplate(body, "broken")


def test_the_lab_saves_and_runs_templates_within_its_own_size_settings(duckdb_url):
    # Given a lab whose settings allow longer bodies but shorter rendered prompts than the defaults
    import promptlab_nb as pl

    lab = pl.Lab(duckdb_url, settings=pl.PromptLab(max_template_chars=200_000, max_rendered_chars=50))
    pl.mock_model("sized", "ok")
    # When a body longer than the default limit is saved, Then the lab's own limit admits it
    assert lab.templates.save("long", "x" * 150_000, model="mock:sized").version == 1
    # When a row renders past the lab's rendered limit, Then that run fails saying so and the other succeeds
    lab.templates.save("echo", "Say {{ text }}", model="mock:sized")
    experiment = lab.run("echo", [{"text": "hi"}, {"text": "y" * 100}], progress=False)
    runs = experiment.runs.sort_values("row_index")
    assert runs["status"].tolist() == ["ok", "error"]
    assert "50 characters" in runs["error"].iloc[1]
    lab.close()
