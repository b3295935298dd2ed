"""The Gemini API wire format: POST /{v1,v1beta}/models/{model}:generateContent or :streamGenerateContent (SSE)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fakes.script import MALFORMED_BODY, RETRY_AFTER_SECONDS, Script, received, send_events, sse

RESPONSE_ID = "resp_gemini_fake"
_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS"}
_FAILURES: dict[str, tuple[int, str, str]] = {
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "rate_limit": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "server": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "bad_request": (400, "INVALID_ARGUMENT", "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""),
    "context_too_long": (
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ),
}


def routes() -> list[web.RouteDef]:
    return [web.post(f"/{version}/models/{{call}}", generate_content) for version in ("v1", "v1beta")]


async def generate_content(request: web.Request) -> web.StreamResponse:
    script, failure, _ = await received(request)
    if failure == "malformed":
        return web.json_response(MALFORMED_BODY)
    if failure and failure != "content_filtered":
        return failure_response(failure)
    response = _blocked(script) if failure else _response(script, script.reply, _FINISH_REASONS[script.finish])
    if request.match_info["call"].endswith(":streamGenerateContent"):
        return await send_events(
            request, [sse(chunk) for chunk in _chunks(script, response, blocked=bool(failure))], {}
        )
    return web.json_response(response)


def failure_response(kind: str) -> web.Response:
    status, code_name, message = _FAILURES[kind]
    details: list[dict[str, Any]] = []
    if kind == "auth":
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    if kind == "rate_limit":
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{RETRY_AFTER_SECONDS}s"}]
    error = {"code": status, "message": message, "status": code_name, "details": details}
    return web.json_response({"error": error}, status=status)


def _response(script: Script, text: str, finish_reason: str | None, *, usage: bool = True) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-fake", "responseId": RESPONSE_ID}
    if usage:
        response["usageMetadata"] = _usage(script)
    return response


def _usage(script: Script) -> dict[str, int]:
    return {
        "promptTokenCount": script.input_tokens,
        "candidatesTokenCount": script.output_tokens,
        "totalTokenCount": script.input_tokens + script.output_tokens,
    }


def _blocked(script: Script) -> dict[str, Any]:
    return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": _usage(script), "responseId": RESPONSE_ID}


def _chunks(script: Script, response: dict[str, Any], *, blocked: bool) -> list[dict[str, Any]]:
    if blocked:
        return [response]
    pieces = script.pieces()
    partial = [_response(script, piece, None, usage=False) for piece in pieces[:-1]]
    return [*partial, _response(script, pieces[-1], _FINISH_REASONS[script.finish])]
