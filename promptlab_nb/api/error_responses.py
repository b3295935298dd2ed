"""Domain errors and invalid requests as JSON answers: ``{"error": ..., "message": ...}`` as the Jupyter
server extension answers, with each domain error's own ``http_status``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
        422: "The request, a template or a label is not valid.",
    }.items()
}


def _answer(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=error, message=message).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


async def domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PromptLabError)
    challenge = {"WWW-Authenticate": "Bearer"} if isinstance(error, ApiTokenRejected) else None
    return _answer(error.http_status, type(error).__name__, str(error), challenge)


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return _answer(INVALID_REQUEST_STATUS, "InvalidRequest", f"{where}: {problem['msg']}")


def answer_errors_as_json(app: FastAPI) -> None:
    app.add_exception_handler(PromptLabError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
