"""Thin REST handlers: parse the request, call the Lab on the store's worker thread, answer JSON.

Every handler needs Jupyter's authentication and authorization on the ``promptlab`` resource;
writes also pass Jupyter's XSRF check unless token-authenticated.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from pydantic import BaseModel, ValidationError
from tornado import web

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.display.records import frame_records
from promptlab_nb.schemas.api import (
    DuplicateRequest,
    ErrorResponse,
    PipelineList,
    PipelineResponse,
    PipelineSummary,
    RenderRequest,
    TemplateHistory,
    TemplateList,
    TemplateResponse,
    TemplateSaveRequest,
    TemplateSummary,
    most_request_bytes,
)
from promptlab_nb.server.experiment_views import experiment_detail, experiment_list, runs_page
from promptlab_nb.server.lab_access import LabStore

if TYPE_CHECKING:
    from pathlib import Path

    from promptlab_nb._lab import Lab

AUTH_RESOURCE = "promptlab"
RUNS_PAGE_LIMIT = 100
RUNS_PAGE_MAX = 1000
NAME = r"(?P<name>[^/]+)"
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")

RequestT = TypeVar("RequestT", bound=BaseModel)
ResultT = TypeVar("ResultT")


class ApiError(web.HTTPError):
    def __init__(self, status: int, error: str, message: str):
        super().__init__(status)
        self.error, self.message = error, message


class LabHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def initialize(self, store: LabStore) -> None:
        self.store = store

    async def on_lab(self, action: Callable[[Lab], ResultT]) -> ResultT:
        return await self.answered(self.store.call(action, self.store_file()))

    def store_file(self) -> Path | None:
        """The store the ``store`` query argument names (a .duckdb file relative to the server root), if any."""
        relative = self.get_query_argument("store", None)
        if relative is None:
            return None
        file = self.store.store_file(relative)
        if file is None:
            message = f"store must be a .duckdb file inside the server's root, not {relative!r}."
            raise ApiError(422, "InvalidRequest", message)
        return file

    async def answered(self, pending: Awaitable[ResultT]) -> ResultT:
        try:
            return await pending
        except PromptLabError as error:
            raise ApiError(error.http_status, type(error).__name__, str(error)) from error

    def check_body_size(self, most_bytes: int) -> None:
        size = len(self.request.body or b"")
        if size > most_bytes:
            raise ApiError(413, "RequestTooLarge", f"The request has {size:,} bytes; send at most {most_bytes:,}.")

    def parse_body(self, model: type[RequestT]) -> RequestT:
        try:
            return model.model_validate_json(self.request.body or b"{}")
        except ValidationError as error:
            raise ApiError(422, "InvalidRequest", _first_problem(error)) from error

    def query_int(self, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
        """A whole-number query argument within limits, or None when absent."""
        raw = self.get_query_argument(name, None)
        if raw is None:
            return None
        if not WHOLE_NUMBER.fullmatch(raw) or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
            limits = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
            raise ApiError(422, "InvalidRequest", f"{name} must be a whole number {limits}, not {raw!r}.")
        return int(raw)

    def chosen_version(self) -> tuple[int | None, str | None]:
        """Which version to read: ``?version=N``, ``?label=production``, else the latest."""
        return self.query_int("version", minimum=1), self.get_query_argument("label", None)

    def reply(self, body: BaseModel, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body.model_dump_json())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(error, ApiError):
            return super().write_error(status_code, **kwargs)
        self.set_header("Content-Type", "application/json")
        self.finish(ErrorResponse(error=error.error, message=error.message).model_dump_json())


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"


class TemplatesHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        frame = await self.on_lab(lambda lab: lab.templates.list())
        self.reply(TemplateList(templates=[TemplateSummary(**row) for row in frame_records(frame)]))


class TemplateHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        version, label = self.chosen_version()
        template = await self.on_lab(lambda lab: lab.templates.get(name, version, label=label))
        self.reply(TemplateResponse.of(template))

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        self.check_body_size(most_request_bytes(self.store.settings.max_template_chars))
        request = self.parse_body(TemplateSaveRequest)
        await self.answered(self.store.compile(name, request.body))
        template = await self.on_lab(lambda lab: lab.templates.save(name, **request.model_dump()))
        self.reply(TemplateResponse.of(template), 200 if template.unchanged else 201)

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        template = await self.on_lab(lambda lab: lab.templates.delete(name))
        self.reply(TemplateResponse.of(template))


class TemplateRenderHandler(LabHandler):
    """Variables in, chat messages out with the model and params: the version is chosen as for GET."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.check_body_size(most_request_bytes(self.store.settings.max_rendered_chars))
        request = self.parse_body(RenderRequest)
        version, label = self.chosen_version()
        rendered = await self.on_lab(
            lambda lab: lab.templates.get(name, version, label=label).render(request.variables)
        )
        self.reply(rendered)


class TemplateVersionsHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        versions = await self.on_lab(lambda lab: lab.templates.history(name))
        self.reply(TemplateHistory(name=name, versions=[TemplateResponse.of(template) for template in versions]))


class TemplateVersionHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        template = await self.on_lab(lambda lab: lab.templates.get(name, int(version)))
        self.reply(TemplateResponse.of(template))


class TemplateDuplicateHandler(LabHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        request = self.parse_body(DuplicateRequest)
        template = await self.on_lab(lambda lab: lab.templates.duplicate(name, request.new_name))
        self.reply(TemplateResponse.of(template), 201)


class TemplateRestoreHandler(LabHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        template = await self.on_lab(lambda lab: lab.templates.restore(name))
        self.reply(TemplateResponse.of(template))


class PipelinesHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        frame = await self.on_lab(lambda lab: lab.pipelines.list())
        self.reply(PipelineList(pipelines=[PipelineSummary(**row) for row in frame_records(frame)]))


class PipelineHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        version = self.query_int("version", minimum=1)
        pipeline = await self.on_lab(lambda lab: lab.pipelines.get(name, version))
        self.reply(PipelineResponse.of(pipeline))


class ExperimentsHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.on_lab(lambda lab: experiment_list(lab, self.store.best_variants(lab))))


class ExperimentHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply(await self.on_lab(lambda lab: experiment_detail(lab, name)))


class ExperimentRunsHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        offset = self.query_int("offset", minimum=0) or 0
        limit = self.query_int("limit", minimum=1, maximum=RUNS_PAGE_MAX) or RUNS_PAGE_LIMIT
        self.reply(await self.on_lab(lambda lab: runs_page(lab, name, offset, limit)))


class StoresHandler(LabHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await asyncio.get_running_loop().run_in_executor(None, self.store.known_stores))


ROUTES: list[tuple[str, type[LabHandler]]] = [
    ("stores", StoresHandler),
    ("templates", TemplatesHandler),
    (f"templates/{NAME}", TemplateHandler),
    (f"templates/{NAME}/render", TemplateRenderHandler),
    (f"templates/{NAME}/versions", TemplateVersionsHandler),
    (rf"templates/{NAME}/versions/(?P<version>[0-9]{{1,9}})", TemplateVersionHandler),
    (f"templates/{NAME}/duplicate", TemplateDuplicateHandler),
    (f"templates/{NAME}/restore", TemplateRestoreHandler),
    ("pipelines", PipelinesHandler),
    (f"pipelines/{NAME}", PipelineHandler),
    ("experiments", ExperimentsHandler),
    (f"experiments/{NAME}", ExperimentHandler),
    (f"experiments/{NAME}/runs", ExperimentRunsHandler),
]


def route_table(base_url: str, store: LabStore) -> list[tuple[str, type[LabHandler], dict[str, LabStore]]]:
    return [(url_path_join(base_url, "promptlab/api", path), handler, {"store": store}) for path, handler in ROUTES]
