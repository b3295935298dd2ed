"""The Anthropic messages wire format: POST /v1/messages, JSON or SSE events."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fakes.script import MALFORMED_BODY, Script, received, send_events, sse

REQUEST_ID = "req_anthropic_fake"
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
_FAILURES: dict[str, tuple[int, str, str]] = {
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "rate_limit": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    "server": (529, "overloaded_error", "Overloaded"),
    "bad_request": (400, "invalid_request_error", "temperature: range: 0..1"),
    "context_too_long": (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
}


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/messages", messages)]


async def messages(request: web.Request) -> web.StreamResponse:
    script, failure, body = await received(request)
    if failure == "malformed":
        return web.json_response(MALFORMED_BODY, headers=_headers())
    if failure and failure != "content_filtered":
        return failure_response(failure, script.rate_limit_headers)
    stop_reason = "refusal" if failure else _STOP_REASONS[script.finish]
    text = "" if failure else script.reply
    if body.get("stream"):
        return await send_events(request, _events(script, body["model"], text, stop_reason), _headers())
    return web.json_response(_message(script, body["model"], text, stop_reason), headers=_headers())


def failure_response(kind: str, rate_limit_headers: dict[str, str]) -> web.Response:
    status, error_type, message = _FAILURES[kind]
    headers = rate_limit_headers if kind == "rate_limit" else {}
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": REQUEST_ID}
    return web.json_response(body, status=status, headers={**_headers(), **headers})


def _headers() -> dict[str, str]:
    return {"request-id": REQUEST_ID}


def _message(script: Script, model: str, text: str, stop_reason: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": script.input_tokens, "output_tokens": script.output_tokens},
    }


def _events(script: Script, model: str, text: str, stop_reason: str) -> list[bytes]:
    start = {**_message(script, model, text, stop_reason), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": script.input_tokens, "output_tokens": 1}
    deltas = [
        sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            "content_block_delta",
        )
        for piece in (script.pieces() if text else [])
    ]
    return [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        *deltas,
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": script.output_tokens},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
