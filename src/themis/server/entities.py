"""Entity routes: single keys as upstream, and batches of keys in one request."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.server.documents import parse_blob
from themis.server.errors import BadRequest, NotFound, ServerError
from themis.server.http import field, json_response, read_object
from themis.server.keys import DocKey, parse_key
from themis.server.state import node_of

MAX_BATCH_KEYS = 10_000


async def get_entity(request: Request) -> Response:
    key = parse_key(request.path_params["key"])
    blob = node_of(request).documents.get(key)
    if blob is None:
        raise NotFound(f"Entity not found: {key.wire!r}")
    return json_response({"key": key.wire, "blob": blob.decode()})


async def put_entity(request: Request) -> Response:
    body = await read_object(request)
    raw_key = body.get("key", request.path_params["key"])
    return await _store(request, raw_key, body)


async def post_entity(request: Request) -> Response:
    body = await read_object(request)
    return await _store(request, field(body, "key", str), body)


async def delete_entity(request: Request) -> Response:
    key = parse_key(request.path_params["key"])
    (existed,) = await node_of(request).documents.delete_many([key])
    if not existed:
        raise NotFound(f"Entity not found: {key.wire!r}")
    return json_response({"success": True, "key": key.wire})


async def _store(request: Request, raw_key: Any, body: dict[str, Any]) -> Response:
    if not isinstance(raw_key, str):
        raise BadRequest(
            f"expected field 'key' to be str, received {type(raw_key).__name__}"
        )
    key = parse_key(raw_key)
    if "blob" not in body:
        raise BadRequest(f"missing required field 'blob' for {key.wire!r}")
    blob = parse_blob(body["blob"], key.wire)
    await node_of(request).documents.put_many([(key, blob)])
    return json_response(
        {"success": True, "key": key.wire, "blob_size": len(blob)}, status_code=201
    )


async def batch_get(request: Request) -> Response:
    keys = _key_list(await read_object(request))
    documents = node_of(request).documents
    found: dict[str, str] = {}
    missing: list[str] = []
    errors: dict[str, str] = {}
    with documents.storage.snapshot() as view:
        for raw in keys:
            try:
                key = parse_key(raw)
            except ServerError as exc:
                errors[raw] = exc.message
                continue
            blob = view.get("docs", key.storage())
            if blob is None:
                missing.append(raw)
            else:
                found[raw] = blob.decode()
    return json_response({"found": found, "missing": missing, "errors": errors})


async def batch_put(request: Request) -> Response:
    items = field(await read_object(request), "items", list)
    _check_size(len(items))
    valid: list[tuple[DocKey, bytes]] = []
    failed: dict[str, str] = {}
    for position, item in enumerate(items):
        try:
            valid.append(_batch_item(item, position))
        except ServerError as exc:
            failed[_item_label(item, position)] = exc.message
    if valid:
        await node_of(request).documents.put_many(valid)
    succeeded = [key.wire for key, _ in valid]
    return json_response({"succeeded": succeeded, "failed": failed})


async def batch_delete(request: Request) -> Response:
    keys = _key_list(await read_object(request))
    valid: list[DocKey] = []
    failed: dict[str, str] = {}
    for raw in keys:
        try:
            valid.append(parse_key(raw))
        except ServerError as exc:
            failed[raw] = exc.message
    existed = await node_of(request).documents.delete_many(valid) if valid else []
    succeeded = [key.wire for key, was in zip(valid, existed, strict=True) if was]
    missing = [key.wire for key, was in zip(valid, existed, strict=True) if not was]
    body = {"succeeded": succeeded, "missing": missing, "failed": failed}
    return json_response(body)


def _key_list(body: dict[str, Any]) -> list[str]:
    keys: list[str] = field(body, "keys", list)
    _check_size(len(keys))
    for position, key in enumerate(keys):
        if not isinstance(key, str):
            raise BadRequest(
                f"expected 'keys' to hold strings, received {type(key).__name__} "
                f"at position {position}"
            )
    return keys


def _check_size(count: int) -> None:
    if count > MAX_BATCH_KEYS:
        raise BadRequest(
            f"a batch holds at most {MAX_BATCH_KEYS} keys, received {count}"
        )


def _batch_item(item: Any, position: int) -> tuple[DocKey, bytes]:
    if not isinstance(item, dict):
        raise BadRequest(
            f"expected item {position} to be an object with 'key' and 'blob', "
            f"received {type(item).__name__}"
        )
    key = parse_key(field(item, "key", str))
    if "blob" not in item:
        raise BadRequest(f"missing required field 'blob' for {key.wire!r}")
    return key, parse_blob(item["blob"], key.wire)


def _item_label(item: Any, position: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("key"), str):
        return str(item["key"])
    return f"#{position}"


routes = [
    Route("/entities", post_entity, methods=["POST"]),
    Route("/entities/{key:path}", get_entity, methods=["GET"]),
    Route("/entities/{key:path}", put_entity, methods=["PUT"]),
    Route("/entities/{key:path}", delete_entity, methods=["DELETE"]),
    Route("/batch/get", batch_get, methods=["POST"]),
    Route("/batch/put", batch_put, methods=["POST"]),
    Route("/batch/delete", batch_delete, methods=["POST"]),
]
