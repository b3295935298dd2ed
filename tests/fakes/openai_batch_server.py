"""The OpenAI files and batches wire format: upload a JSONL file, start a batch on it (with
metadata), list the batches, read its status, cancel it, download its output and error files."""

from __future__ import annotations

import json
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
    MALFORMED,
    OK,
    STOPPED,
    UNREADABLE,
    BatchBook,
    FakeBatch,
    Replier,
    book_of,
)
from fakes.script import Script, script_of

_STATUSES = {
    IN_PROGRESS: "in_progress",
    CANCELLING: "cancelling",
    ENDED: "completed",
    EXPIRED: "expired",
    CANCELLED: "cancelled",
    INVALID: "failed",
}
_STOP_CODES = {EXPIRED: "batch_expired", CANCELLED: "batch_cancelled"}


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/files", upload_file),
        web.get("/v1/files/{file_id}/content", file_content),
        web.post("/v1/batches", create_batch),
        web.get("/v1/batches/{batch_id:batch_[^/:]+}", retrieve_batch),
        web.post("/v1/batches/{batch_id:batch_[^/:]+}/cancel", cancel_batch),
    ]


async def upload_file(request: web.Request) -> web.Response:
    book = book_of(request)
    form = await request.post()
    upload = form["file"]
    content = upload.file.read()
    file_id = book.new_id("file")
    book.files[file_id] = content
    return web.json_response(_file_object(file_id, upload.filename, len(content), str(form["purpose"])))


async def file_content(request: web.Request) -> web.Response:
    content = book_of(request).files.get(request.match_info["file_id"])
    if content is None:
        return _not_found("file")
    return web.Response(body=content, content_type="application/octet-stream")


async def create_batch(request: web.Request) -> web.Response:
    book, body = book_of(request), await request.json()
    content = book.files.get(body["input_file_id"])
    if content is None:
        return _not_found("file")
    lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
    batch = book.add("batch", lines, body.get("metadata"))
    return web.json_response(_batch_object(book, script_of(request), batch, body["input_file_id"]))


async def list_batches(request: web.Request) -> web.Response:
    """Newest first, one page of ``limit`` after the ``after`` id (listing reads no status, so moves nothing on)."""
    book, script = book_of(request), script_of(request)
    batches = book.newest_first("batch")
    ids = [batch.id for batch in batches]
    start = ids.index(request.query["after"]) + 1 if request.query.get("after") in ids else 0
    page = batches[start : start + int(request.query.get("limit", 20))]
    data = [_batch_object(book, script, batch) for batch in page]
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": start + len(page) < len(batches),
        }
    )


async def retrieve_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found("batch")
    batch = book.poll(request.match_info["batch_id"])
    return web.json_response(_batch_object(book, script_of(request), batch))


async def cancel_batch(request: web.Request) -> web.Response:
    book = book_of(request)
    if request.match_info["batch_id"] not in book.batches:
        return _not_found("batch")
    batch = book.cancel(request.match_info["batch_id"])
    return web.json_response(_batch_object(book, script_of(request), batch))


def _not_found(what: str) -> web.Response:
    error = {"message": f"No such {what}.", "type": "invalid_request_error", "param": None, "code": None}
    return web.json_response({"error": error}, status=404)


def _file_object(file_id: str, filename: str, size: int, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": 1_700_000_000,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def _batch_object(
    book: BatchBook, script: Script, batch: FakeBatch, input_file_id: str = "file_input"
) -> dict[str, Any]:
    output_file_id, error_file_id, completed, failed = _result_files(book, script, batch)
    errors = None
    if batch.status == INVALID:
        errors = {
            "object": "list",
            "data": [{"code": "invalid_request", "message": "line 1: model not found", "line": 1}],
        }
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": errors,
        "input_file_id": input_file_id,
        "completion_window": "24h",
        "status": _STATUSES[batch.status],
        "output_file_id": output_file_id,
        "error_file_id": error_file_id,
        "created_at": batch.created_at,
        "metadata": batch.metadata,
        "request_counts": {"total": len(batch.lines), "completed": completed, "failed": failed},
    }


def _result_files(book: BatchBook, script: Script, batch: FakeBatch) -> tuple[str | None, str | None, int, int]:
    """The output and error files of a finished batch (written once), and its request counts."""
    if not batch.finished or batch.status == INVALID:
        return None, None, 0, 0
    output_file_id, error_file_id = f"{batch.id}_output", f"{batch.id}_errors"
    fates = book.fates(batch)
    if output_file_id not in book.files:
        outputs = [
            _output_line(script, line, fate, book.reply) for line, fate in fates if fate in (OK, MALFORMED, UNREADABLE)
        ]
        errors = [_error_line(batch, line, fate) for line, fate in fates if fate in (FAILED, STOPPED)]
        book.files[output_file_id] = "\n".join(outputs).encode()
        book.files[error_file_id] = "\n".join(errors).encode()
    completed = sum(fate == OK for _, fate in fates)
    return output_file_id, error_file_id, completed, len(fates) - completed


def _output_line(script: Script, line: dict[str, Any], fate: str, reply: Replier) -> str:
    if fate == UNREADABLE:
        return '{"custom_id": "' + line["custom_id"] + '", "response": {'
    body = {"unexpected": True} if fate == MALFORMED else _completion(script, line, reply)
    response = {"status_code": 200, "request_id": f"req_{line['custom_id']}", "body": body}
    return json.dumps(
        {"id": f"batch_req_{line['custom_id']}", "custom_id": line["custom_id"], "response": response, "error": None}
    )


def _completion(script: Script, line: dict[str, Any], reply: Replier) -> dict[str, Any]:
    body = line["body"]
    return {
        "id": f"chatcmpl-{line['custom_id']}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply(body["messages"]), "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": script.input_tokens,
            "completion_tokens": script.output_tokens,
            "total_tokens": script.input_tokens + script.output_tokens,
        },
    }


def _error_line(batch: FakeBatch, line: dict[str, Any], fate: str) -> str:
    if fate == STOPPED:
        code = _STOP_CODES[batch.status]
        error = {"code": code, "message": f"This request could not be executed before the batch was {batch.status}."}
        return json.dumps(
            {"id": f"batch_req_{line['custom_id']}", "custom_id": line["custom_id"], "response": None, "error": error}
        )
    body = {
        "error": {
            "message": "Invalid 'messages': empty content.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "invalid_value",
        }
    }
    response = {"status_code": 400, "request_id": f"req_{line['custom_id']}", "body": body}
    return json.dumps(
        {"id": f"batch_req_{line['custom_id']}", "custom_id": line["custom_id"], "response": response, "error": None}
    )
