"""Domain errors and invalid requests as JSON answers: ``{"error": ..., "message": ...}`` as the Jupyter
server extension answers, with each domain error's own ``http_status``."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from promptlab_nb.core.errors import ApiTokenRejected, PromptLabError
from promptlab_nb.schemas.api import ErrorResponse

INVALID_REQUEST_STATUS = 422
DOCUMENTED_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "A variable the template needs was not given.",
        401: "No valid API token.",
        403: "A read-only token tried to write.",
        404: "No such template, version, label or pipeline.",
        410: "The template or pipeline is deleted.",
        411: "The body was sent in chunks, without Content-Length.",
        413: "The body is larger than any template or prompt the store accepts.",
        422: "The request, a template or a label is not valid.",
    }.items()
}


def answer(status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=error, message=message).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


async def domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PromptLabError)
    challenge = {"WWW-Authenticate": "Bearer"} if isinstance(error, ApiTokenRejected) else None
    return answer(error.http_status, type(error).__name__, str(error), challenge)


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return answer(INVALID_REQUEST_STATUS, "InvalidRequest", f"{where}: {problem['msg']}")


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """No such route, or not with this method: answered in the same shape as every other error."""
    assert isinstance(error, HTTPException)
    error_name = HTTPStatus(error.status_code).phrase.title().replace(" ", "")
    message = f"{request.method} {request.url.path}: {error.detail}; the routes are listed at /docs."
    return answer(error.status_code, error_name, message, error.headers)


def answer_errors_as_json(app: FastAPI) -> None:
    app.add_exception_handler(PromptLabError, domain_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
