"""The Anthropic message batches wire format: create, list, retrieve, cancel, and the results as JSONL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from fakes.batch_book import (
    CANCELLED,
    CANCELLING,
    FAILED,
    IN_PROGRESS,
    MALFORMED,
    STOPPED,
    UNREADABLE,
    BatchBook,
    FakeBatch,
    book_of,
)
from fakes.script import Script, script_of

_PROCESSING = {IN_PROGRESS: "in_progress", CANCELLING: "canceling"}


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/messages/batches", create_batch),
        web.get("/v1/messages/batches", list_batches),
        web.get("/v1/messages/batches/{batch_id}", retrieve_batch),
        web.post("/v1/messages/batches/{batch_id}/cancel", cancel_batch),
        web.get("/v1/messages/batches/{batch_id}/results", batch_results),
    ]


async def create_batch(request: web.Request) -> web.Response:
    book, body = book_of(request), await request.json()
    batch = book.add("msgbatch", body["requests"])
    return web.json_response(_batch_object(book, batch, _origin(request)))


async def list_batches(request: web.Request) -> web.Response:
    """Newest first, one page of ``limit`` after the ``after_id`` batch."""
    book = book_of(request)
    batches = book.newest_first("msgbatch")
    ids = [batch.id for batch in batches]
    start = ids.index(request.query["after_id"]) + 1 if request.query.get("after_id") in ids else 0
    page = batches[start : start + int(request.query.get("limit", 20))]
    data = [_batch_object(book, batch, _origin(request)) for batch in page]
    return web.json_response(
        {
            "data": data,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": start + len(page) < len(batches),
        }
    )


async def retrieve_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found()
    return web.json_response(_batch_object(book, book.poll(request.match_info["batch_id"]), _origin(request)))


async def cancel_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found()
    return web.json_response(_batch_object(book, book.cancel(request.match_info["batch_id"]), _origin(request)))


async def batch_results(request: web.Request) -> web.Response:
    book = book_of(request)
    batch = book.batches.get(request.match_info["batch_id"])
    if batch is None or not batch.finished:
        return _not_found()
    lines = [_result_line(script_of(request), book, batch, line, fate) for line, fate in book.fates(batch)]
    return web.Response(body="\n".join(lines).encode() + b"\n", content_type="application/binary")


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _not_found() -> web.Response:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "batch not found"}}
    return web.json_response(body, status=404)


def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _batch_object(book: BatchBook, batch: FakeBatch, origin: str) -> dict[str, Any]:
    finished = batch.finished
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if finished:
        for _, fate in book.fates(batch):
            counts[_count_name(batch, fate)] += 1
    else:
        counts["processing"] = len(batch.lines)
    created = _timestamp(batch.created_at)
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if finished else _PROCESSING[batch.status],
        "request_counts": counts,
        "ended_at": created if finished else None,
        "created_at": created,
        "expires_at": (datetime.fromtimestamp(batch.created_at, UTC) + timedelta(hours=24)).isoformat(),
        "archived_at": None,
        "cancel_initiated_at": created if batch.cancel_requested else None,
        "results_url": f"{origin}/v1/messages/batches/{batch.id}/results" if finished else None,
    }


def _count_name(batch: FakeBatch, fate: str) -> str:
    if fate == STOPPED:
        return "canceled" if batch.status == CANCELLED else "expired"
    return "errored" if fate == FAILED else "succeeded"


def _result_line(script: Script, book: BatchBook, batch: FakeBatch, line: dict[str, Any], fate: str) -> str:
    custom_id = line["custom_id"]
    if fate == UNREADABLE:
        return '{"custom_id": "' + custom_id + '", "result": {"type": "succ'
    return json.dumps({"custom_id": custom_id, "result": _result(script, book, batch, line, fate)})


def _result(script: Script, book: BatchBook, batch: FakeBatch, line: dict[str, Any], fate: str) -> dict[str, Any]:
    if fate == STOPPED:
        return {"type": "canceled" if batch.status == CANCELLED else "expired"}
    if fate == FAILED:
        error = {"type": "invalid_request_error", "message": "messages.0.content: must not be empty"}
        return {"type": "errored", "error": {"type": "error", "error": error}}
    if fate == MALFORMED:
        return {"type": "succeeded", "message": {"unexpected": True}}
    params = line["params"]
    message = {
        "id": f"msg_{line['custom_id']}",
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": book.reply(params["messages"])}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": script.input_tokens, "output_tokens": script.output_tokens},
    }
    return {"type": "succeeded", "message": message}
