"""`promptlab serve`: applications fetch and render prompts over REST without a Jupyter server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from process_support import free_port, stop

import promptlab_nb as pl
from promptlab_nb.api.app_factory import create_app
from promptlab_nb.cli import cli
from promptlab_nb.services.tokens import TokenService

API = "/promptlab/api"
SUMMARIZE = "system:\nYou are a terse assistant.\nuser:\nSummarize in one sentence: {{ text }}"
SUMMARIZE_V2 = "system:\nYou are a very terse assistant.\nuser:\nSummarize in five words: {{ text }}"
SERVER_START_SECONDS = 60


@dataclass
class Served:
    client: TestClient
    lab: pl.Lab
    reader: str
    writer: str

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, f"{API}{path}", headers=headers, **kwargs)
        return response.status_code, response.json()

    def read(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return self.call("GET", path, self.reader, **kwargs)


def make_token(lab: pl.Lab, name: str, *, read_only: bool) -> str:
    with lab.db.session() as session:
        return TokenService(session).create(name, read_only=read_only).secret


def save_summarize_with_production_label(lab: pl.Lab) -> None:
    lab.templates.save("summarize", SUMMARIZE, model="openai:gpt-4o-mini", params={"temperature": 0.2})
    lab.templates.save("summarize", SUMMARIZE_V2, model="openai:gpt-4o-mini")
    lab.templates.label("summarize", 1, "production")


@pytest.fixture
def served(lab) -> Served:
    """The API over a store with two versions of `summarize` (1 is production), a read-only and a read-write token."""
    save_summarize_with_production_label(lab)
    reader = make_token(lab, "dashboard", read_only=True)
    writer = make_token(lab, "release-bot", read_only=False)
    return Served(TestClient(create_app(lab)), lab, reader, writer)


def assert_error(answer: tuple[int, Any], status: int, error: str) -> None:
    code, body = answer
    assert (code, body["error"]) == (status, error), f"the application would see {code}: {body}"
    assert body["message"], "an error says what to do"


def test_health_answers_without_a_token(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When a load balancer checks the service
    response = served.client.get("/health")
    # Then it is healthy and names the version
    assert response.status_code == 200
    assert response.json() == {"healthy": True, "version": pl.__version__}


def test_every_route_but_health_needs_a_token(served):
    # Given every route the OpenAPI description publishes
    paths = served.client.get("/openapi.json").json()["paths"]
    routes = [(method.upper(), path) for path, operations in paths.items() for method in operations]

    # When each is called without a token
    answers = {
        (method, path): served.client.request(method, path.format(name="summarize", label="production"), json={})
        for method, path in routes
    }

    # Then only /health answers; every other route is refused with 401, a Bearer challenge and how to get a token
    assert {route for route, response in answers.items() if response.status_code != 401} == {("GET", "/health")}
    for response in (response for route, response in answers.items() if route != ("GET", "/health")):
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "promptlab tokens create" in response.json()["message"]
    assert len(answers) >= 8


def test_a_template_is_read_by_label_version_or_latest(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When an application reads it three ways
    by_label = served.read("/templates/summarize", params={"label": "production"})
    pinned = served.read("/templates/summarize", params={"version": 1})
    latest = served.read("/templates/summarize")

    # Then each answer is the version it names, with its labels
    assert [answer[0] for answer in (by_label, pinned, latest)] == [200, 200, 200]
    assert [answer[1]["version"] for answer in (by_label, pinned, latest)] == [1, 1, 2]
    assert by_label[1]["labels"] == ["production"]


def test_render_returns_messages_with_the_model_and_params_of_the_labelled_version(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When an application renders the production version with its variables
    status, prompt = served.call(
        "POST",
        "/templates/summarize/render",
        served.reader,
        params={"label": "production"},
        json={"variables": {"text": "DuckDB is embedded."}},
    )

    # Then it gets the chat messages, ready for any SDK, with version 1's model and params
    assert status == 200
    assert prompt == {
        "name": "summarize",
        "version": 1,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Summarize in one sentence: DuckDB is embedded."},
        ],
        "model": "openai:gpt-4o-mini",
        "params": {"temperature": 0.2},
    }


def test_render_with_a_variable_missing_is_a_400_that_names_it(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When the variables leave out `text`
    answer = served.call("POST", "/templates/summarize/render", served.reader, json={"variables": {"topic": "x"}})
    # Then the answer is 400 and names it
    assert_error(answer, 400, "MissingVariables")
    assert "text" in answer[1]["message"]


def test_rendering_a_template_that_would_loop_without_end_is_refused_and_the_service_goes_on(served):
    # Given a template saved with loops that would turn ten billion times and output nothing
    served.lab.templates.save(
        "spin", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
    )

    # When an application renders it, then reads another template
    answer = served.call("POST", "/templates/spin/render", served.reader, json={"variables": {}})
    after = served.read("/templates/summarize")

    # Then the render is refused with what to do, and the service still answers
    assert_error(answer, 422, "RenderFailed")
    assert "loop turns and calls" in answer[1]["message"]
    assert after[0] == 200


@pytest.mark.parametrize("version", [True, "2", 2.0, 0], ids=["true", "text", "float", "zero"])
def test_a_label_move_to_what_is_not_a_version_number_is_refused(served, version):
    # Given the service over a store with summarize, production on version 1
    # When a release bot moves the label with a version that is not a whole number from 1 up
    answer = served.call("PUT", "/templates/summarize/labels/production", served.writer, json={"version": version})

    # Then it is refused and the label stays where it was
    assert_error(answer, 422, "InvalidRequest")
    assert served.lab.templates.labels("summarize") == {"production": 1}


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/templates/translate", {}, 404, "TemplateNotFound"),
        ("/templates/summarize", {"label": "staging"}, 404, "LabelNotFound"),
        ("/templates/summarize", {"version": 9}, 404, "TemplateNotFound"),
        ("/templates/summarize", {"version": 0}, 422, "InvalidRequest"),
        ("/templates/summarize", {"version": "two"}, 422, "InvalidRequest"),
    ],
    ids=["unknown-template", "unknown-label", "unknown-version", "version-zero", "version-not-a-number"],
)
def test_reading_what_does_not_exist_is_an_error_that_says_what_to_do(served, path, params, status, error):
    # Given the service over a store with summarize, production on version 1
    # When an application reads what the store does not have, Then the answer names the error and what to do
    assert_error(served.read(path, params=params), status, error)


def test_a_deleted_template_is_gone_with_410(served):
    # Given the template deleted in a notebook
    served.lab.templates.delete("summarize")
    # When an application reads its latest version
    # Then it is told the template is deleted and how to restore it
    assert_error(served.read("/templates/summarize"), 410, "TemplateDeleted")


def test_a_read_only_token_cannot_save_or_move_a_label_and_the_store_is_unchanged(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When the read-only token tries to save a version and to move the label
    save = served.call("PUT", "/templates/summarize", served.reader, json={"body": "Hi {{ name }}"})
    move = served.call("PUT", "/templates/summarize/labels/production", served.reader, json={"version": 2})

    # Then both are refused, naming the token, and nothing changed
    assert_error(save, 403, "ReadOnlyApiToken")
    assert_error(move, 403, "ReadOnlyApiToken")
    assert "'dashboard'" in save[1]["message"]
    assert [template.version for template in served.lab.templates.history("summarize")] == [1, 2]
    assert served.lab.templates.get("summarize", label="production").version == 1


def test_a_read_write_token_saves_a_version_and_it_is_read_at_once(served):
    # Given the latest version read (and cached) by the service
    assert served.read("/templates/summarize")[1]["version"] == 2

    # When the release bot saves a new version, then the same content again
    created = served.call("PUT", "/templates/summarize", served.writer, json={"body": "Hi {{ name }}"})
    again = served.call("PUT", "/templates/summarize", served.writer, json={"body": "Hi {{ name }}"})

    # Then the first is a new version 3 (201), the second unchanged (200), and reads see version 3 at once
    assert (created[0], created[1]["version"]) == (201, 3)
    assert (again[0], again[1]["version"], again[1]["unchanged"]) == (200, 3, True)
    assert served.read("/templates/summarize")[1]["version"] == 3
    assert served.lab.templates.history("summarize")[-1].body == "Hi {{ name }}"


def test_a_read_write_token_moves_a_label_and_rendering_by_it_follows_at_once(served):
    # Given the production version rendered (and cached) by the service
    render = {"params": {"label": "production"}, "json": {"variables": {"text": "t"}}}
    assert served.call("POST", "/templates/summarize/render", served.reader, **render)[1]["version"] == 1

    # When the release bot moves production to version 2
    status, moved = served.call("PUT", "/templates/summarize/labels/production", served.writer, json={"version": 2})

    # Then the label points at version 2 in the store, and the next render uses it
    assert (status, moved["version"], moved["labels"]) == (200, 2, ["production"])
    assert served.lab.templates.get("summarize", label="production").version == 2
    assert served.call("POST", "/templates/summarize/render", served.reader, **render)[1]["version"] == 2


def test_a_write_the_store_refuses_stores_nothing(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When the release bot saves a template whose Jinja does not compile
    answer = served.call("PUT", "/templates/broken", served.writer, json={"body": "{% if %}"})
    # Then it is told why, and no template was made
    assert_error(answer, 422, "InvalidTemplate")
    assert served.lab.templates.list()["name"].tolist() == ["summarize"]


def test_requests_served_at_once_with_one_token_all_succeed_and_its_use_is_noted(served):
    # Given a token not used yet, and eight application threads
    def read_latest(_: int) -> int:
        return served.read("/templates/summarize")[0]

    # When sixteen requests present it at once
    with ThreadPoolExecutor(max_workers=8) as threads:
        statuses = list(threads.map(read_latest, range(16)))

    # Then every one is answered, and the store notes when the token was used
    assert statuses == [200] * 16
    with served.lab.db.session() as session:
        [dashboard] = [token for token in TokenService(session).list() if token.name == "dashboard"]
    assert dashboard.last_used_at is not None


def test_label_moves_served_at_once_all_succeed_and_each_is_in_the_history(served):
    # Given the release bot's token, used once, and eight threads that move production between versions 1 and 2
    served.call("GET", "/templates/summarize", served.writer)

    def move_production(attempt: int) -> int:
        body = {"version": 1 + attempt % 2}
        return served.call("PUT", "/templates/summarize/labels/production", served.writer, json=body)[0]

    # When sixteen moves arrive at once
    with ThreadPoolExecutor(max_workers=8) as threads:
        statuses = list(threads.map(move_production, range(16)))

    # Then every move is answered, the history has each of them after the first labelling, chained one after
    # the other, and the label points where the last one left it
    assert statuses == [200] * 16
    history = served.lab.templates.label_history("summarize")
    assert len(history) == 17
    assert history["previous_version"].iloc[1:].tolist() == history["version"].iloc[:-1].tolist()
    assert served.lab.templates.labels("summarize") == {"production": int(history["version"].iloc[-1])}


def test_a_body_larger_than_any_template_is_refused_before_it_is_read_or_the_token_checked(served):
    # Given the API, which takes templates and prompts of at most a million characters
    huge = b'{"variables": {"text": "' + b"x" * 13_000_000 + b'"}}'

    # When a caller without a token posts a body of 13 MB, and another sends its body in chunks
    too_large = served.call("POST", "/templates/summarize/render", content=huge)
    chunked = served.call("POST", "/templates/summarize/render", served.reader, content=iter([b'{"variables": {}}']))

    # Then the first is refused for its size and the second asked for its length, before either body is read
    assert_error(too_large, 413, "RequestTooLarge")
    assert_error(chunked, 411, "LengthRequired")


def test_a_body_within_the_limit_is_served(served):
    # Given a prompt text of half a million characters
    text = "x" * 500_000

    # When it is rendered
    status, prompt = served.call(
        "POST", "/templates/summarize/render", served.reader, params={"version": 1}, json={"variables": {"text": text}}
    )

    # Then it is answered in full
    assert status == 200
    assert prompt["messages"][1]["content"].endswith(text)


def test_a_path_or_method_the_api_does_not_have_is_answered_in_its_error_shape(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When an application reads a path that is no route, and deletes a template, which the API does not offer
    no_route = served.read("/prompts/summarize")
    no_method = served.call("DELETE", "/templates/summarize", served.writer)

    # Then both answers have an error name and a message that says where the routes are listed
    assert_error(no_route, 404, "NotFound")
    assert_error(no_method, 405, "MethodNotAllowed")
    assert "/docs" in no_route[1]["message"]


def test_a_revoked_token_is_refused(served):
    # Given the dashboard's token revoked
    with served.lab.db.session() as session:
        TokenService(session).revoke("dashboard")
    # When the dashboard reads a template
    # Then it is refused
    assert_error(served.read("/templates/summarize"), 401, "ApiTokenRejected")


def test_templates_and_pipelines_are_listed_and_a_pipeline_is_read(served):
    # Given a pipeline over the template
    served.lab.pipelines.save("digest", steps=[{"template": "summarize@production", "output": "summary"}])

    # When an application lists templates and pipelines and reads the pipeline
    templates = served.read("/templates")
    pipelines = served.read("/pipelines")
    digest = served.read("/pipelines/digest")

    # Then it sees them with their versions and labels
    assert [(row["name"], row["version"], row["labels"]) for row in templates[1]["templates"]] == [
        ("summarize", 2, {"production": 1})
    ]
    assert [row["name"] for row in pipelines[1]["pipelines"]] == ["digest"]
    assert (digest[0], digest[1]["version"], digest[1]["outputs"]) == (200, 1, ["summary"])


def test_the_openapi_page_lists_the_routes_and_the_bearer_scheme(served):
    # Given the API over two versions of summarize (production on 1), a read-only and a read-write token
    # When a developer opens the OpenAPI description and page
    schema = served.client.get("/openapi.json").json()
    page = served.client.get("/docs")

    # Then the routes, the error body and the token scheme are described, and the page is served
    assert {f"{API}/templates/{{name}}", f"{API}/templates/{{name}}/render", "/health"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert page.status_code == 200 and "swagger" in page.text.lower()


def test_importing_the_package_and_the_lab_does_not_import_fastapi():
    # Given a fresh Python process
    # When promptlab_nb and its Lab are imported in a fresh interpreter
    check = "import sys, promptlab_nb, promptlab_nb._lab; print(sorted({'fastapi', 'uvicorn'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    # Then neither FastAPI nor uvicorn was loaded
    assert imported.stdout.strip() == "[]"


def test_serving_a_store_that_does_not_exist_is_one_line_and_creates_nothing(tmp_path):
    # Given a store path with a typo
    # When promptlab serve is pointed at a file that is not there
    result = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path / "typo.duckdb")])
    # Then it says so in one line with exit code 2, and makes no store
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "No store at" in result.stderr
    assert not (tmp_path / "typo.duckdb").exists()


@pytest.fixture
def serve_process(duckdb_url) -> Iterator[tuple[str, str]]:
    """`promptlab serve` in its own process on a free loopback port: (base URL, read-only token)."""
    lab = pl.Lab(duckdb_url)
    save_summarize_with_production_label(lab)
    token = make_token(lab, "app", read_only=True)
    lab.close()
    port = free_port()
    arguments = ["serve", "--store", duckdb_url, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "promptlab_nb", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
        yield base, token
    finally:
        stop(process, timeout=20)


def wait_until_healthy(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"promptlab serve stopped: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"promptlab serve did not answer within {SERVER_START_SECONDS} s")


def test_a_real_server_process_serves_a_labelled_prompt(serve_process):
    # Given promptlab serve running on a loopback port
    base, token = serve_process

    # When an application renders the production prompt over HTTP, with and without its token
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}{API}/templates/summarize/render"
    rendered = httpx.post(url, params={"label": "production"}, json={"variables": {"text": "x"}}, headers=headers)
    refused = httpx.post(url, params={"label": "production"}, json={"variables": {"text": "x"}})

    # Then it gets version 1's messages with its model, and nothing without the token
    assert rendered.status_code == 200
    assert (rendered.json()["version"], rendered.json()["model"]) == (1, "openai:gpt-4o-mini")
    assert rendered.json()["messages"][-1]["content"] == "Summarize in one sentence: x"
    assert refused.status_code == 401
