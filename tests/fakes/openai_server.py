"""The OpenAI chat completions wire format: POST /v1/chat/completions, JSON or SSE."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fakes.script import MALFORMED_BODY, Script, received, send_events, sse

REQUEST_ID = "req_openai_fake"
_FAILURES: dict[str, tuple[int, str, str, str | None]] = {
    "auth": (401, "invalid_request_error", "Incorrect API key provided: {key}.", "invalid_api_key"),
    "rate_limit": (
        429,
        "requests",
        "Rate limit reached for gpt-4o-mini on requests per min (RPM).",
        "rate_limit_exceeded",
    ),
    "server": (500, "server_error", "The server had an error while processing your request.", None),
    "bad_request": (400, "invalid_request_error", "Unrecognized request argument supplied: foo", None),
    "context_too_long": (
        400,
        "invalid_request_error",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
        "context_length_exceeded",
    ),
    "content_filtered": (
        400,
        "invalid_request_error",
        "Your request was rejected as a result of our safety system.",
        "content_policy_violation",
    ),
}


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/chat/completions", chat_completions)]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    script, failure, body = await received(request)
    if failure == "malformed":
        return web.json_response(MALFORMED_BODY, headers=_headers())
    if failure:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return failure_response(failure, key, script.rate_limit_headers)
    if body.get("stream"):
        return await send_events(
            request, [sse(chunk) for chunk in _chunks(script, body["model"])] + [b"data: [DONE]\n\n"], _headers()
        )
    return web.json_response(_completion(script, body["model"]), headers=_headers())


def failure_response(kind: str, key: str, rate_limit_headers: dict[str, str]) -> web.Response:
    """The error OpenAI answers; like the real API, the auth error quotes the key it got."""
    status, error_type, template, code = _FAILURES[kind]
    message = template.format(key=key)
    headers = rate_limit_headers if kind == "rate_limit" else {}
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return web.json_response({"error": error}, status=status, headers={**_headers(), **headers})


def _headers() -> dict[str, str]:
    return {"x-request-id": REQUEST_ID}


def _completion(script: Script, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": script.reply, "refusal": None},
                "finish_reason": script.finish,
            }
        ],
        "usage": _usage(script),
    }


def _usage(script: Script) -> dict[str, int]:
    return {
        "prompt_tokens": script.input_tokens,
        "completion_tokens": script.output_tokens,
        "total_tokens": script.input_tokens + script.output_tokens,
    }


def _chunks(script: Script, model: str) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    pieces = [chunk({"role": "assistant", "content": piece}, None) for piece in script.pieces()]
    return [*pieces, chunk({}, script.finish)]
