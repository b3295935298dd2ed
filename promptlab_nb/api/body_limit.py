"""A request body larger than any template or set of variables the store accepts is refused before it is
read: FastAPI reads and parses a body before it checks the caller's token."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from promptlab_nb.api.error_responses import answer
from promptlab_nb.core.config import PromptLab
from promptlab_nb.schemas.api import most_request_bytes

LENGTH_REQUIRED = 411
TOO_LARGE = 413


def most_body_bytes(settings: PromptLab) -> int:
    """Room for the longest template or prompt in a request."""
    return most_request_bytes(max(settings.max_template_chars, settings.max_rendered_chars))


class BodyLimit:
    """ASGI middleware: a body must declare its length (``Content-Length``) and stay within ``most_bytes``."""

    def __init__(self, app: ASGIApp, most_bytes: int):
        self.app = app
        self.most_bytes = most_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None:
            if b"transfer-encoding" not in headers:
                return None
            message = "Send the request body with a Content-Length header, not in chunks."
            return answer(LENGTH_REQUIRED, "LengthRequired", message)
        size = int(declared) if declared.isdigit() else self.most_bytes + 1
        if size <= self.most_bytes:
            return None
        message = f"The request has {size:,} bytes; send at most {self.most_bytes:,}."
        return answer(TOO_LARGE, "RequestTooLarge", message)
