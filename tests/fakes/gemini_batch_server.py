"""The Gemini Developer API batch wire format: a batch job of inline requests (with a display
name), listed, read, cancelled, and answered inline in the job's output once it succeeded. Its
batch ids have their own prefix, as the paths ``/v1/batches/{id}`` are OpenAI's too (``server``
tells the two listings at ``GET /v1/batches`` apart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from fakes.batch_book import (
    CANCELLED,
    CANCELLING,
    ENDED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    INVALID,
    STOPPED,
    BatchBook,
    FakeBatch,
    book_of,
)
from fakes.script import Script, script_of

BATCH_PREFIX = "geminibatch"
_STATES = {
    IN_PROGRESS: "BATCH_STATE_RUNNING",
    CANCELLING: "BATCH_STATE_RUNNING",
    ENDED: "BATCH_STATE_SUCCEEDED",
    EXPIRED: "BATCH_STATE_EXPIRED",
    CANCELLED: "BATCH_STATE_CANCELLED",
    INVALID: "BATCH_STATE_FAILED",
}


def routes() -> list[web.RouteDef]:
    per_version = [
        route
        for version in ("v1", "v1beta")
        for route in (
            web.post(f"/{version}/models/{{model:[^/:]+}}:batchGenerateContent", create_batch),
            web.get(f"/{version}/batches/{{batch_id:{BATCH_PREFIX}_[^/:]+}}", retrieve_batch),
            web.post(f"/{version}/batches/{{batch_id:{BATCH_PREFIX}_[^/:]+}}:cancel", cancel_batch),
        )
    ]
    return [*per_version, web.get("/v1beta/batches", list_batches)]


def is_asking(request: web.Request) -> bool:
    """Whether a request comes from the Gemini SDK, which sends its key in its own header."""
    return "x-goog-api-key" in request.headers


async def create_batch(request: web.Request) -> web.Response:
    book, body = book_of(request), await request.json()
    requests = body["batch"]["inputConfig"]["requests"]["requests"]
    lines = [{"custom_id": item["metadata"]["custom_id"], "request": item["request"]} for item in requests]
    metadata = {"display_name": body["batch"].get("displayName", ""), "model": request.match_info["model"]}
    batch = book.add(BATCH_PREFIX, lines, metadata)
    return web.json_response(_job(book, script_of(request), batch))


async def list_batches(request: web.Request) -> web.Response:
    """Newest first, one page of ``pageSize`` from the ``pageToken`` (the index of its first job)."""
    book, script = book_of(request), script_of(request)
    batches = book.newest_first(BATCH_PREFIX)
    start = int(request.query.get("pageToken") or 0)
    end = start + int(request.query.get("pageSize", 50))
    listing: dict[str, Any] = {"operations": [_job(book, script, batch) for batch in batches[start:end]]}
    if end < len(batches):
        listing["nextPageToken"] = str(end)
    return web.json_response(listing)


async def retrieve_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found()
    return web.json_response(_job(book, script_of(request), book.poll(request.match_info["batch_id"])))


async def cancel_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found()
    book.cancel(request.match_info["batch_id"])
    return web.json_response({})


def _not_found() -> web.Response:
    return web.json_response({"error": {"code": 404, "message": "Batch not found.", "status": "NOT_FOUND"}}, status=404)


def _job(book: BatchBook, script: Script, batch: FakeBatch) -> dict[str, Any]:
    created = datetime.fromtimestamp(batch.created_at, UTC).isoformat().replace("+00:00", "Z")
    metadata: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": f"models/{(batch.metadata or {}).get('model', 'gemini')}",
        "displayName": (batch.metadata or {}).get("display_name", ""),
        "state": _STATES[batch.status],
        "createTime": created,
    }
    if batch.finished and batch.status != INVALID:
        answered = [_inlined(script, book, line, fate) for line, fate in book.fates(batch) if fate != STOPPED]
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": answered}}
    job: dict[str, Any] = {"name": f"batches/{batch.id}", "metadata": metadata, "done": batch.finished}
    if batch.status == INVALID:
        job["error"] = {"code": 400, "message": "model not found"}
    return job


def _inlined(script: Script, book: BatchBook, line: dict[str, Any], fate: str) -> dict[str, Any]:
    metadata = {"custom_id": line["custom_id"]}
    if fate == FAILED:
        return {"error": {"code": 400, "message": "contents must not be empty"}, "metadata": metadata}
    question = {"content": line["request"]["contents"][-1]["parts"][0]["text"]}
    candidate = {"content": {"role": "model", "parts": [{"text": book.reply([question])}]}, "finishReason": "STOP"}
    usage = {
        "promptTokenCount": script.input_tokens,
        "candidatesTokenCount": script.output_tokens,
        "totalTokenCount": script.input_tokens + script.output_tokens,
    }
    response = {"candidates": [candidate], "usageMetadata": usage, "responseId": f"resp_{line['custom_id']}"}
    return {"response": response, "metadata": metadata}
