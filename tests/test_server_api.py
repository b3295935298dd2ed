"""The REST API of the Jupyter server extension, called as the JupyterLab sidebar calls it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import urllib.parse
from http.cookies import SimpleCookie
from typing import Any

import pytest

# pytest-jupyter's fixtures for this module only: as a plugin, its hooks would run every test of the suite.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from sqlalchemy import text
from tornado.httpclient import HTTPResponse
from tornado.web import RequestHandler

import promptlab_nb as pl
from promptlab_nb.server.handlers import NAME, ROUTES
from promptlab_nb.services.results import run_count, runs_page_frame, summary_versions

BODY = "system:\nYou are terse.\nuser:\nSummarize: {{ text }}"


@pytest.fixture
def jp_server_config(jp_root_dir):
    return {"ServerApp": {"jpserver_extensions": {"promptlab_nb.server": True}, "root_dir": str(jp_root_dir)}}


@pytest.fixture
def server_lab(jp_root_dir):
    """The store the server uses, opened by the test as a notebook would open it."""
    lab = pl.Lab(jp_root_dir / "promptlab.duckdb")
    yield lab
    lab.close()


@pytest.fixture
def fetch(jp_fetch, jp_asyncio_loop):
    """jp_fetch on the server's own event loop (the suite's pytest-asyncio runs async tests on another)."""

    async def request(*parts: str, **kwargs: Any) -> HTTPResponse:
        return await jp_fetch(*parts, raise_error=False, **kwargs)

    def call(*parts: str, **kwargs: Any) -> HTTPResponse:
        return jp_asyncio_loop.run_until_complete(request(*parts, **kwargs))

    return call


@pytest.fixture
def api(fetch):
    """Calls the API and returns (status, JSON body), also for error statuses."""

    def call(method: str, *path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        if body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in {"POST", "PUT"}:
            kwargs["body"] = ""
        response = fetch("promptlab", "api", *path, method=method, **kwargs)
        return response.code, json.loads(response.body or b"null")

    return call


def assert_error(status: int, body: Any, expected_status: int, error: str) -> None:
    assert (status, body["error"]) == (expected_status, error), f"the user would see {status}: {body}"
    assert body["message"], "an error response says what to do"


def test_listing_templates_shows_the_latest_version_variables_and_model(api, server_lab):
    # Given two templates, one with two versions, saved from a notebook
    server_lab.templates.save("summarize", "Summarize: {{ text }}", model="mock:echo")
    server_lab.templates.save("summarize", BODY, model="mock:echo")
    server_lab.templates.save("translate", "Translate {{ text }} to {{ language }}")

    # When the sidebar lists templates
    status, body = api("GET", "templates")

    # Then it sees both, each at its latest version
    assert status == 200
    listed = {row["name"]: (row["version"], row["variables"], row["model"]) for row in body["templates"]}
    assert listed == {"summarize": (2, ["text"], "mock:echo"), "translate": (1, ["language", "text"], None)}


def test_looking_at_a_store_no_notebook_wrote_yet_creates_nothing_and_says_so(api, jp_root_dir):
    # Given a server whose root holds no store
    # When the sidebar lists templates
    status, body = api("GET", "templates")

    # Then it is told there is no store there yet, and none was created
    assert_error(status, body, 404, "StoreMissing")
    assert body["message"].startswith(f"No store at {jp_root_dir / 'promptlab.duckdb'} yet.")
    assert not (jp_root_dir / "promptlab.duckdb").exists()


@pytest.fixture
def notebook_folder_lab(jp_root_dir):
    """The store a notebook in notebooks/ writes: notebooks/promptlab.duckdb, with one template."""
    (jp_root_dir / "notebooks").mkdir()
    lab = pl.Lab(jp_root_dir / "notebooks" / "promptlab.duckdb")
    lab.templates.save("in_folder", "Hello {{ name }}")
    yield lab
    lab.close()


def test_the_store_of_a_notebook_folder_is_read_when_named_in_the_query(api, notebook_folder_lab, jp_root_dir):
    # When the sidebar lists templates of the store beside a notebook in notebooks/
    status, body = api("GET", "templates", params={"store": "notebooks/promptlab.duckdb"})

    # Then it sees that store's templates, and the root store was not created
    assert (status, [row["name"] for row in body["templates"]]) == (200, ["in_folder"])
    assert not (jp_root_dir / "promptlab.duckdb").exists()


@pytest.mark.parametrize("store", ["../outside.duckdb", "/tmp/elsewhere.duckdb", "notebooks/lab.ipynb"])
def test_a_store_outside_the_root_or_not_a_duckdb_file_is_refused(api, notebook_folder_lab, jp_root_dir, store):
    status, body = api("GET", "templates", params={"store": store})

    assert_error(status, body, 422, "InvalidRequest")
    assert not (jp_root_dir.parent / "outside.duckdb").exists()


def test_a_missing_store_named_in_the_query_is_not_created(api, notebook_folder_lab, jp_root_dir):
    status, body = api("GET", "experiments", params={"store": "other/promptlab.duckdb"})

    assert_error(status, body, 404, "StoreMissing")
    assert not (jp_root_dir / "other").exists()


def test_the_known_stores_are_the_duckdb_files_under_the_root(api, notebook_folder_lab, server_lab, jp_root_dir):
    # Given a store in the root, one in notebooks/, one in a hidden folder and one too deep to look for
    for hidden in (jp_root_dir / ".cache", jp_root_dir / "a" / "b" / "c"):
        hidden.mkdir(parents=True)
        (hidden / "promptlab.duckdb").write_bytes(b"")

    # When the sidebar asks which stores there are
    status, body = api("GET", "stores")

    # Then it is offered the two a person works with, and follows the notebook's folder
    assert status == 200
    assert body == {
        "stores": [
            {"name": "promptlab.duckdb", "path": "promptlab.duckdb"},
            {"name": "notebooks/promptlab.duckdb", "path": "notebooks/promptlab.duckdb"},
        ],
        "follows_notebook": True,
    }


def test_promptlab_url_is_the_first_known_store_and_every_notebook_uses_it(team_store, api):
    status, body = api("GET", "stores")

    assert (status, body["stores"][0], body["follows_notebook"]) == (
        200, {"name": team_store.removeprefix("duckdb:///"), "path": None}, False
    )  # fmt: skip


def test_a_store_deleted_while_the_server_reads_it_says_it_no_longer_exists_and_where_it_was(
    api, notebook_folder_lab, jp_root_dir
):
    # Given the sidebar has read the store of notebooks/, and the folder is then deleted
    query = {"store": "notebooks/promptlab.duckdb"}
    assert api("GET", "templates", params=query)[0] == 200
    notebook_folder_lab.close()
    shutil.rmtree(jp_root_dir / "notebooks")

    # When the sidebar reads it again
    status, body = api("GET", "templates", params=query)

    # Then it is told the store file no longer exists, and where it was; nothing was created
    assert_error(status, body, 404, "StoreMissing")
    where = jp_root_dir / "notebooks" / "promptlab.duckdb"
    assert body["message"].startswith(f"The store file no longer exists: it was at {where}.")
    assert not (jp_root_dir / "notebooks").exists()

    # When it reads it once more
    status, body = api("GET", "templates", params=query)

    # Then it is told there is no store there
    assert_error(status, body, 404, "StoreMissing")
    assert body["message"].startswith(f"No store at {where} yet.")


@pytest.fixture
def team_store(tmp_path, monkeypatch):
    """A store elsewhere, named by PROMPTLAB_URL before the server starts, holding one template."""
    url = f"duckdb:///{tmp_path / 'team.duckdb'}"
    lab = pl.Lab(url)
    lab.templates.save("shared", "Shared {{ text }}")
    lab.close()
    monkeypatch.setenv("PROMPTLAB_URL", url)
    return url


def test_promptlab_url_points_the_server_at_another_store(team_store, api, jp_root_dir):
    status, body = api("GET", "templates")

    assert (status, [row["name"] for row in body["templates"]]) == (200, ["shared"])
    assert not (jp_root_dir / "promptlab.duckdb").exists()


def test_directory_listings_survive_a_notebook_writing_the_store(fetch, jp_root_dir):
    # Given a write-ahead log beside the store, as DuckDB keeps it for a moment while a notebook writes
    (jp_root_dir / "promptlab.duckdb").write_bytes(b"")
    (jp_root_dir / "promptlab.duckdb.wal").write_bytes(b"")

    # When JupyterLab's file browser lists the folder
    response = fetch("api", "contents", "")

    # Then the log is not listed, so its disappearing cannot turn the listing into a 404
    assert response.code == 200
    assert [item["name"] for item in json.loads(response.body)["content"]] == ["promptlab.duckdb"]


def test_an_empty_store_lists_nothing(api, server_lab):
    assert api("GET", "templates") == (200, {"templates": []})
    assert api("GET", "pipelines") == (200, {"pipelines": []})


def test_saving_through_the_api_creates_versions_in_the_store(api, server_lab):
    # Given a new template body
    request = {"body": BODY, "model": "mock:echo", "params": {"temperature": 0.2}}

    # When it is saved, saved again unchanged, then changed
    created = api("PUT", "templates", "summarize", body=request)
    unchanged = api("PUT", "templates", "summarize", body=request)
    changed = api("PUT", "templates", "summarize", body={**request, "body": "Summarize {{ text }}"})

    # Then the statuses say what happened and the store holds two versions
    assert (created[0], created[1]["version"], created[1]["variables"]) == (201, 1, ["text"])
    assert (unchanged[0], unchanged[1]["version"], unchanged[1]["unchanged"]) == (200, 1, True)
    assert (changed[0], changed[1]["version"], changed[1]["previous_version"]) == (201, 2, 1)
    assert [t.version for t in server_lab.templates.history("summarize")] == [1, 2]
    assert server_lab.templates.get("summarize", 1).params == {"temperature": 0.2}


def test_getting_a_template_by_version_and_its_history(api, server_lab):
    # Given a template with two versions
    server_lab.templates.save("summarize", "v1 {{ text }}")
    server_lab.templates.save("summarize", "v2 {{ text }}")

    # When the latest, the first version and the history are requested
    latest = api("GET", "templates", "summarize")
    first_by_query = api("GET", "templates", "summarize", params={"version": "1"})
    first_by_path = api("GET", "templates", "summarize", "versions", "1")
    history = api("GET", "templates", "summarize", "versions")

    # Then each shows the right body
    assert (latest[0], latest[1]["version"], latest[1]["body"]) == (200, 2, "v2 {{ text }}")
    assert first_by_query == first_by_path
    assert first_by_path[1]["body"] == "v1 {{ text }}"
    assert [version["version"] for version in history[1]["versions"]] == [1, 2]


def test_unknown_templates_and_versions_are_404(api, server_lab):
    server_lab.templates.save("summarize", "Summarize {{ text }}")

    assert_error(*api("GET", "templates", "missing"), 404, "TemplateNotFound")
    assert_error(*api("GET", "templates", "summarize", "versions", "7"), 404, "TemplateNotFound")
    assert_error(*api("GET", "templates", "missing", "versions"), 404, "TemplateNotFound")
    assert_error(*api("DELETE", "templates", "missing"), 404, "TemplateNotFound")


def test_an_application_reads_a_template_by_label_and_renders_it(api, server_lab):
    # Given a template whose version 1 is labelled production, and a later version 2
    server_lab.templates.save("summarize", BODY, model="openai:gpt-4o-mini", params={"temperature": 0.2})
    server_lab.templates.save("summarize", "v2 {{ text }}")
    server_lab.templates.label("summarize", 1, "production")

    # When an application reads the production version, then renders it with its variables
    read = api("GET", "templates", "summarize", params={"label": "production"})
    rendered = api(
        "POST", "templates", "summarize", "render", params={"label": "production"}, body={"variables": {"text": "t"}}
    )

    # Then it gets version 1, and its chat messages with its model and params
    assert (read[0], read[1]["version"], read[1]["labels"]) == (200, 1, ["production"])
    assert rendered == (
        200,
        {
            "name": "summarize",
            "version": 1,
            "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Summarize: t"}],
            "model": "openai:gpt-4o-mini",
            "params": {"temperature": 0.2},
        },
    )


def test_rendering_without_a_variable_is_a_400_that_names_it(api, server_lab):
    # Given a template that needs text and language
    server_lab.templates.save("translate", "Translate {{ text }} to {{ language }}")
    # When it is rendered with text only
    status, body = api("POST", "templates", "translate", "render", body={"variables": {"text": "hi"}})
    # Then the answer is 400 and names language
    assert_error(status, body, 400, "MissingVariables")
    assert "language" in body["message"]


def test_invalid_input_is_422_and_the_store_is_unchanged(api, server_lab):
    # When bodies that are not valid templates or requests are sent
    broken_jinja = api("PUT", "templates", "broken", body={"body": "Hello {{ name"})
    empty_body = api("PUT", "templates", "empty", body={"body": "  "})
    unknown_field = api("PUT", "templates", "extra", body={"body": "Hi", "colour": "red"})
    not_json = api("PUT", "templates", "garbled", body=None)
    bad_version = api("GET", "templates", "broken", params={"version": "first"})
    bad_name = api("PUT", "templates", "no spaces allowed", body={"body": "Hi"})

    # Then each is refused with a reason and nothing is stored
    assert_error(*broken_jinja, 422, "InvalidTemplate")
    assert_error(*empty_body, 422, "InvalidTemplate")
    assert_error(*unknown_field, 422, "InvalidRequest")
    assert_error(*not_json, 422, "InvalidRequest")
    assert_error(*bad_version, 422, "InvalidRequest")
    assert_error(*bad_name, 400, "InvalidName")
    assert server_lab.templates.list().empty


@pytest.mark.parametrize(
    "body",
    ["{{ 9**(9**7) }}", "{{ 'ab'*10**8 }}", "{{ text | no_such_filter }}", "{{ " + "(" * 5000 + " }}", "x" * 100_001],
)
def test_a_hostile_template_is_refused_as_invalid_and_nothing_is_stored(api, server_lab, body):
    # When a body that would take the server's time or memory to compile is saved
    status, answer = api("PUT", "templates", "hostile", body={"body": body})

    # Then it is refused with a reason, and the store holds nothing
    assert_error(status, answer, 422, "InvalidTemplate")
    assert server_lab.templates.list().empty


def test_a_request_far_larger_than_any_template_is_refused_before_it_is_read(api, server_lab):
    status, answer = api("PUT", "templates", "huge", body={"body": "x" * 1_300_000})

    assert_error(status, answer, 413, "RequestTooLarge")
    assert server_lab.templates.list().empty


def test_the_server_answers_other_requests_while_a_hostile_template_is_refused(jp_fetch, jp_asyncio_loop, server_lab):
    # Given a stored template
    server_lab.templates.save("summarize", "Summarize {{ text }}")

    # When a template that would compute a number of 136 million bits is saved while the sidebar lists templates
    async def both() -> tuple:
        hostile = jp_fetch("promptlab", "api", "templates", "hostile", method="PUT",
                           body=json.dumps({"body": "{{ 9**(9**8) }}"}), raise_error=False)  # fmt: skip
        listing = jp_fetch("promptlab", "api", "templates", raise_error=False)
        return await asyncio.gather(hostile, listing)

    hostile, listing = jp_asyncio_loop.run_until_complete(both())

    # Then both are answered: the hostile one refused, the listing complete
    assert (hostile.code, json.loads(hostile.body)["error"]) == (422, "InvalidTemplate")
    assert (listing.code, [row["name"] for row in json.loads(listing.body)["templates"]]) == (200, ["summarize"])


@pytest.mark.parametrize("value", ["²", "١", "1" * 5000, "-1", "1.0"])
def test_a_number_in_the_query_that_is_not_plain_digits_is_422(api, server_lab, value):
    server_lab.templates.save("summarize", "Summarize {{ text }}")

    assert_error(*api("GET", "templates", "summarize", params={"version": value}), 422, "InvalidRequest")
    assert_error(*api("GET", "experiments", "any", "runs", params={"offset": value}), 422, "InvalidRequest")


def test_duplicate_delete_and_restore(api, server_lab):
    # Given a template
    server_lab.templates.save("summarize", "Summarize {{ text }}", model="mock:echo")

    # When it is duplicated, duplicated onto a taken name, deleted and read, then restored
    duplicated = api("POST", "templates", "summarize", "duplicate", body={"new_name": "summarize_copy"})
    taken = api("POST", "templates", "summarize", "duplicate", body={"new_name": "summarize_copy"})
    deleted = api("DELETE", "templates", "summarize")
    read_deleted = api("GET", "templates", "summarize")
    listed_while_deleted = api("GET", "templates")
    restored = api("POST", "templates", "summarize", "restore")

    # Then each step shows in the responses and the store
    assert (duplicated[0], duplicated[1]["name"], duplicated[1]["model"]) == (201, "summarize_copy", "mock:echo")
    assert_error(*taken, 409, "TemplateNameTaken")
    assert (deleted[0], deleted[1]["deleted"]) == (200, True)
    assert_error(*read_deleted, 410, "TemplateDeleted")
    assert [row["name"] for row in listed_while_deleted[1]["templates"]] == ["summarize_copy"]
    assert (restored[0], restored[1]["deleted"]) == (200, False)
    assert sorted(server_lab.templates.list()["name"]) == ["summarize", "summarize_copy"]


def test_pipelines_list_and_get(api, server_lab):
    # Given a pipeline of two templates
    server_lab.templates.save("extract", "Facts in {{ text }}")
    server_lab.templates.save("write", "Write about {{ facts }}")
    server_lab.pipelines.save("digest", steps=[{"template": "extract", "output": "facts"}, {"template": "write"}])

    # When it is listed and read
    listed = api("GET", "pipelines")
    read = api("GET", "pipelines", "digest")
    missing = api("GET", "pipelines", "nothing")

    # Then its steps, inputs and outputs are shown
    assert [(row["name"], row["steps"], row["inputs"]) for row in listed[1]["pipelines"]] == [
        ("digest", ["extract", "write"], ["text"])
    ]
    assert (read[0], read[1]["outputs"], read[1]["steps"][0]["template"]) == (200, ["facts", "write"], "extract")
    assert_error(*missing, 404, "PipelineNotFound")


def every_endpoint() -> list[tuple[str, str]]:
    """(method, path) for each method of each route, with sample names filled in."""
    endpoints = []
    for pattern, handler in ROUTES:
        path = re.sub(r"\(\?P<version>[^)]*\)", "1", pattern.replace(NAME, "summarize"))
        for method in ("get", "put", "post", "delete"):
            if getattr(handler, method) is not getattr(RequestHandler, method):
                endpoints.append((method.upper(), path))
    return endpoints


def test_every_endpoint_refuses_a_request_without_credentials(api, server_lab):
    server_lab.templates.save("summarize", "Summarize {{ text }}")
    for method, path in every_endpoint():
        status, _ = api(method, *path.split("/"), headers={"Authorization": ""}, follow_redirects=False)
        assert status == 403, f"{method} {path} answered {status} without credentials"
    assert [t.version for t in server_lab.templates.history("summarize")] == [1]
    assert not server_lab.templates.get("summarize").deleted


def _cookies(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def _log_in_with_a_browser_cookie(fetch, token: str) -> dict[str, str]:
    login_page = fetch("login", headers={"Authorization": ""})
    cookies = _cookies(login_page)
    form = urllib.parse.urlencode({"_xsrf": cookies["_xsrf"], "password": token})
    logged_in = fetch(
        "login",
        method="POST",
        body=form,
        headers={"Authorization": "", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        follow_redirects=False,
    )
    return cookies | _cookies(logged_in)


def test_a_browser_write_without_the_xsrf_token_is_refused(api, fetch, jp_serverapp, server_lab):
    # Given a browser session logged in with a cookie and a deleted template
    server_lab.templates.save("summarize", "Summarize {{ text }}")
    server_lab.templates.delete("summarize")
    cookies = _log_in_with_a_browser_cookie(fetch, jp_serverapp.identity_provider.token)

    # When it restores the template without, then with, the XSRF header
    browser = {"Authorization": "", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    without_xsrf = api("POST", "templates", "summarize", "restore", headers=browser)
    with_xsrf = api("POST", "templates", "summarize", "restore", headers=browser | {"X-XSRFToken": cookies["_xsrf"]})

    # Then only the request with the token changes the store
    assert without_xsrf[0] == 403
    assert with_xsrf[0] == 200
    assert server_lab.templates.get("summarize").deleted is False


CAPITALS = [
    {"country": "France", "expected": "Paris"},
    {"country": "Japan", "expected": "Tokyo"},
    {"country": "Kenya", "expected": "Nairobi"},
]
STRONG_VARIANT, WEAK_VARIANT = "capital@1 | mock:strong", "capital@1 | mock:weak"


@pytest.fixture
def capitals_experiment(server_lab):
    """Two offline models answer three questions twice each, scored against the expected answer."""
    pl.mock_model("strong", {"france": "Paris", "japan": "Tokyo", "kenya": "Nairobi", "*": "?"})
    pl.mock_model("weak", {"france": "Paris", "*": "no idea"})
    server_lab.templates.save("capital", "What is the capital of {{ country }}?")
    return server_lab.compare(
        ["capital"], CAPITALS, models=["mock:strong", "mock:weak"], repeats=2,
        evaluators=["equals:expected"], name="capitals", progress=False,
    )  # fmt: skip


def test_experiments_list_shows_size_status_cost_and_best_variant(api, capitals_experiment):
    status, body = api("GET", "experiments")

    assert status == 200
    [listed] = body["experiments"]
    assert {key: listed[key] for key in ("name", "variants", "rows", "repeats", "runs", "errors", "best_variant")} == {
        "name": "capitals", "variants": 2, "rows": 3, "repeats": 2, "runs": 12, "errors": 0,
        "best_variant": STRONG_VARIANT,
    }  # fmt: skip
    assert listed["status"] == capitals_experiment.status


def test_variants_with_the_same_best_score_are_listed_as_a_tie_not_as_one_best(api, server_lab):
    # Given two templates that answer every question equally well
    server_lab.templates.save("route", "Route {{ country }}", model="mock:echo")
    server_lab.templates.save("route_again", "Route {{ country }}", model="mock:echo")
    server_lab.compare(["route", "route_again"], CAPITALS, evaluators=["contains:Route"], name="routes", progress=False)

    # When the sidebar lists experiments
    [listed] = api("GET", "experiments")[1]["experiments"]

    # Then no variant is called best: both are tied
    assert (listed["best_variant"], listed["tied_variants"]) == (None, ["route@1", "route_again@1"])


def test_the_experiment_list_recomputes_a_summary_only_when_its_runs_scores_or_ratings_change(
    api, capitals_experiment, server_lab
):
    # Given the list was shown once, then a variant was relabelled in the store behind the summary's back
    assert api("GET", "experiments")[1]["experiments"][0]["best_variant"] == STRONG_VARIANT
    with server_lab.db.connection() as connection:
        relabel = text("update variant set label = 'relabelled' where label = :label")
        connection.execute(relabel, {"label": STRONG_VARIANT})

    # When the list is shown again, then again after a run is rated
    unchanged = api("GET", "experiments")[1]["experiments"][0]["best_variant"]
    capitals_experiment.rate(capitals_experiment.runs["run_id"].iloc[0], 1)
    rated = api("GET", "experiments")[1]["experiments"][0]["best_variant"]

    # Then the unchanged experiment kept its computed summary, and the rated one was computed again
    assert (unchanged, rated) == (STRONG_VARIANT, "relabelled")


def test_an_experiment_shows_its_summary_per_variant(api, capitals_experiment):
    status, body = api("GET", "experiments", "capitals")

    assert status == 200
    assert body["experiment"]["best_variant"] == STRONG_VARIANT
    scores = {row["variant"]: row["equals:expected"] for row in body["summary"]}
    assert scores == pytest.approx({STRONG_VARIANT: 1.0, WEAK_VARIANT: 1 / 3})
    assert_error(*api("GET", "experiments", "nothing"), 404, "ExperimentNotFound")


def test_runs_are_paged(api, capitals_experiment):
    # When the runs are read in pages of five
    pages = [api("GET", "experiments", "capitals", "runs", params={"offset": str(o), "limit": "5"}) for o in (0, 5, 10)]

    # Then the pages hold every run once, and the total is told
    assert [status for status, _ in pages] == [200, 200, 200]
    assert [len(page["runs"]) for _, page in pages] == [5, 5, 2]
    assert {page["total"] for _, page in pages} == {12}
    run_ids = [run["run_id"] for _, page in pages for run in page["runs"]]
    assert sorted(run_ids) == sorted(capitals_experiment.runs["run_id"])
    assert_error(*api("GET", "experiments", "capitals", "runs", params={"limit": "0"}), 422, "InvalidRequest")
    assert_error(*api("GET", "experiments", "nothing", "runs"), 404, "ExperimentNotFound")


def test_a_runs_page_equals_the_same_slice_of_the_runs_with_inputs_and_scores(api, capitals_experiment):
    expected = json.loads(capitals_experiment.runs.iloc[3:8].to_json(orient="records", date_format="iso"))

    status, page = api("GET", "experiments", "capitals", "runs", params={"offset": "3", "limit": "5"})

    assert status == 200
    shown = ["run_id", "variant", "row_index", "repeat", "output", "country", "inputs", "equals:expected"]
    assert [{key: run[key] for key in shown} for run in page["runs"]] == [
        {key: run[key] for key in shown} for run in expected
    ]


def test_a_runs_page_reads_only_its_own_runs(api, capitals_experiment, server_lab):
    # Given an experiment whose last run holds a parsed answer that cannot be read back
    last_run = capitals_experiment.runs["run_id"].iloc[-1]
    with server_lab.db.connection() as connection:
        connection.execute(text("update run set parsed = '{not json' where id = :id"), {"id": last_run})

    # When the first page is read
    status, page = api("GET", "experiments", "capitals", "runs", params={"offset": "0", "limit": "5"})

    # Then it is answered from its own five runs
    assert (status, len(page["runs"]), page["total"]) == (200, 5, 12)


def test_a_page_of_runs_and_the_summary_versions_read_the_same_on_every_store(store_url):
    # Given the capitals experiment in a store
    lab = pl.Lab(store_url)
    pl.mock_model("strong", {"france": "Paris", "japan": "Tokyo", "kenya": "Nairobi", "*": "?"})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(
        ["capital"], CAPITALS, models=["mock:strong"], repeats=2, evaluators=["equals:expected"],
        name="capitals", progress=False,
    )  # fmt: skip

    # When a page of runs and the summary versions are read, before and after a rating
    with lab.db.connection() as connection:
        page = runs_page_frame(connection, experiment.id, offset=2, limit=3)
        total = run_count(connection, experiment.id)
        version_before = summary_versions(connection)["capitals"]
    experiment.rate(experiment.runs["run_id"].iloc[0], 1)
    with lab.db.connection() as connection:
        version_after = summary_versions(connection)["capitals"]
    runs = experiment.runs
    lab.close()

    # Then the page is the same slice of the runs, and the rating changed the version
    shown = ["run_id", "row_index", "repeat", "output", "country", "equals:expected"]
    assert page[shown].to_dict("records") == runs.iloc[2:5][shown].to_dict("records")
    assert total == 6
    assert version_before != version_after
