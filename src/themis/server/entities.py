"""Entity routes: single keys as upstream, and batches of keys in one request."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json
from themis.server import maintenance, owners, shard_parts
from themis.server.documents import parse_blob
from themis.server.errors import BadRequest, NotFound, ServerError
from themis.server.http import field, json_response, read_object
from themis.server.keys import DocKey, parse_key, storage_keys, table_storage_keys
from themis.server.state import node_of
from themis.server.storage_ops import ReadView
from themis.server.transaction_routes import transaction_of

MAX_BATCH_KEYS = 10_000


async def get_entity(request: Request) -> Response:
    key = parse_key(request.path_params["key"])
    forwarded = await owners.at_owner(request, key, "GET")
    if forwarded is not None:
        return forwarded
    blobs = await read_stored(request, [key])
    await maintenance.fill_moving(request, [key.wire], blobs)
    (blob,) = blobs
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
    forwarded = await owners.at_owner(request, key, "DELETE")
    if forwarded is not None:
        return forwarded
    (existed,) = await delete_documents(request, [key])
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
    forwarded = await owners.at_owner(request, key, "PUT", {"blob": body["blob"]})
    if forwarded is not None:
        return forwarded
    await write_documents(request, [(key, blob)])
    return json_response(
        {"success": True, "key": key.wire, "blob_size": len(blob)}, status_code=201
    )


async def batch_get(request: Request) -> Response:
    body = await read_object(request)
    table, names = _requested_keys(body)
    if table is None:
        stored, invalid = storage_keys(names)
    else:
        stored, invalid = table_storage_keys(table, names)
    with reader(request) as view:
        blobs = view.get_many("docs", stored)
    if invalid:
        found = iter(blobs)
        blobs = [None if i in invalid else next(found) for i in range(len(names))]
    if transaction_of(request) is not None:
        await _read_foreign(request, _wire_keys(table, names), blobs, invalid)
    elif node_of(request).rebalance is not None:
        await maintenance.fill_moving(request, _wire_keys(table, names), blobs, invalid)
    elif owners.passes_on(request):
        await owners.read_at_owners(request, _wire_keys(table, names), blobs, invalid)
    documents = body.get("documents") is True
    if body.get("positional") is True:
        return json_response(_by_position(blobs, invalid, documents=documents))
    return json_response(
        _by_key(_wire_keys(table, names), _values(blobs, documents), invalid)
    )


async def read_stored(request: Request, keys: Sequence[DocKey]) -> list[bytes | None]:
    """The stored texts of documents as the request sees them (in its transaction,
    if any, which reaches the shards owning them); ``None`` where there is none."""
    with reader(request) as view:
        blobs = view.get_many("docs", [key.storage() for key in keys])
    await _read_foreign(request, [key.wire for key in keys], blobs)
    return blobs


def _wire_keys(table: str | None, names: list[str]) -> list[str]:
    return names if table is None else [f"{table}:{pk}" for pk in names]


async def _read_foreign(
    request: Request,
    keys: Sequence[str],
    blobs: list[bytes | None],
    invalid: Mapping[int, str] = {},
) -> None:
    """Inside a transaction, fills in what other shards hold for the keys they own.

    The node read every key from its own storage; a key another shard owns is not
    there, so that shard's answer replaces it (see `shard_parts`).
    """
    txn = transaction_of(request)
    if txn is None:
        return
    node = node_of(request)
    owners = shard_parts.foreign_owners(node, keys, invalid)
    if owners:
        found = await anyio.to_thread.run_sync(
            shard_parts.read, node, txn, keys, owners
        )
        for position, blob in found.items():
            blobs[position] = blob


def _values(blobs: list[bytes | None], documents: bool) -> list[Any]:
    # With "documents", stored texts are spliced in as JSON values: nothing is
    # escaped here or decoded twice by the client.
    wrap: Callable[[bytes], Any] = orjson.Fragment if documents else bytes.decode
    if None in blobs:
        return [None if blob is None else wrap(blob) for blob in blobs]
    return list(map(wrap, cast(list[bytes], blobs)))


def _by_position(
    blobs: list[bytes | None], invalid: dict[int, str], *, documents: bool
) -> dict[str, Any]:
    if documents and None not in blobs:
        # The usual answer: every document found, spliced in as one JSON array.
        found = cast(list[bytes], blobs)
        return {
            "documents": orjson.Fragment(b"[" + b",".join(found) + b"]"),
            "missing": [],
            "errors": [],
        }
    values = _values(blobs, documents)
    missing = [
        i for i, value in enumerate(values) if value is None and i not in invalid
    ]
    errors = [{"position": i, "message": message} for i, message in invalid.items()]
    return {"documents": values, "missing": missing, "errors": errors}


def _by_key(
    keys: list[str], values: list[Any], invalid: dict[int, str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    missing: list[str] = []
    for position, (key, value) in enumerate(zip(keys, values, strict=True)):
        if value is not None:
            found[key] = value
        elif position not in invalid:
            missing.append(key)
    errors = {keys[i]: message for i, message in invalid.items()}
    return {"found": found, "missing": missing, "errors": errors}


async def batch_put(request: Request) -> Response:
    items = field(await read_object(request), "items", list)
    _check_size(len(items))
    failed: dict[int, tuple[str, str]] = {}
    positions: list[int] = []
    keys: list[str] = []
    for position, item in enumerate(items):
        try:
            keys.append(_item_key(item, position))
            positions.append(position)
        except ServerError as exc:
            failed[position] = (_item_label(item, position), exc.message)
    # Keys are checked together first, so a bad key is reported before a bad document.
    stored, invalid = storage_keys(keys)
    valid: list[tuple[str, bytes, bytes]] = []
    stored_keys = iter(stored)
    for index, (position, key) in enumerate(zip(positions, keys, strict=True)):
        if index in invalid:
            failed[position] = (key, invalid[index])
            continue
        try:
            valid.append((key, next(stored_keys), _item_blob(items[position], key)))
        except ServerError as exc:
            failed[position] = (key, exc.message)
    elsewhere = owners.owned_elsewhere(request, [key for key, _, _ in valid])
    moved = owners.Outcomes()
    if elsewhere:
        parts = {
            shard_id: (
                [valid[p][0] for p in positions],
                {
                    "items": [
                        {"key": valid[p][0], "blob": valid[p][2].decode()}
                        for p in positions
                    ]
                },
            )
            for shard_id, positions in elsewhere.items()
        }
        moved = await owners.at_owners(request, "/batch/put", parts)
        taken = {p for positions in elsewhere.values() for p in positions}
        valid = [item for p, item in enumerate(valid) if p not in taken]
    if valid:
        await _write_stored(request, valid)
    return json_response(
        {
            "succeeded": [key for key, _, _ in valid] + moved.succeeded,
            "failed": dict(failed[position] for position in sorted(failed))
            | moved.failed,
        }
    )


async def batch_delete(request: Request) -> Response:
    keys = _key_list(await read_object(request))
    valid: list[DocKey] = []
    failed: dict[str, str] = {}
    for raw in keys:
        try:
            valid.append(parse_key(raw))
        except ServerError as exc:
            failed[raw] = exc.message
    elsewhere = owners.owned_elsewhere(request, [key.wire for key in valid])
    moved = owners.Outcomes()
    if elsewhere:
        parts = {}
        for shard_id, positions in elsewhere.items():
            keys = [valid[p].wire for p in positions]
            parts[shard_id] = (keys, {"keys": keys})
        moved = await owners.at_owners(request, "/batch/delete", parts)
        taken = {p for positions in elsewhere.values() for p in positions}
        valid = [key for p, key in enumerate(valid) if p not in taken]
    existed = await delete_documents(request, valid) if valid else []
    succeeded = [key.wire for key, was in zip(valid, existed, strict=True) if was]
    missing = [key.wire for key, was in zip(valid, existed, strict=True) if not was]
    body = {
        "succeeded": succeeded + moved.succeeded,
        "missing": missing + moved.missing,
        "failed": failed | moved.failed,
    }
    return json_response(body)


@contextmanager
def reader(request: Request) -> Iterator[ReadView]:
    """A view of the data as this request sees it (inside its transaction, if any)."""
    node = node_of(request)
    txn = transaction_of(request)
    if txn is None:
        with node.storage.snapshot() as snapshot:
            yield snapshot
        return
    view, close = txn.read_view(node.storage.snapshot)
    try:
        yield view
    finally:
        close()


async def _write_stored(
    request: Request, items: list[tuple[str, bytes, bytes]]
) -> None:
    """Writes ``(wire key, storage key, blob)`` items, in the transaction if any."""
    if transaction_of(request) is not None:
        await write_documents(
            request, [(parse_key(key), blob) for key, _, blob in items]
        )
        return
    node = node_of(request)
    await node.documents.put_many([(stored, blob) for _, stored, blob in items])


async def write_documents(request: Request, items: list[tuple[DocKey, bytes]]) -> None:
    """Writes documents, buffered in the request's transaction if it names one."""
    node = node_of(request)
    txn = transaction_of(request)
    if txn is None:
        await node.documents.put_many([(key.storage(), blob) for key, blob in items])
        return
    foreign = shard_parts.foreign_owners(node, [key.wire for key, _ in items])
    if foreign:
        wire = [(key.wire, blob) for key, blob in items]
        await anyio.to_thread.run_sync(shard_parts.write, node, txn, wire, foreign)
    for position, (key, blob) in enumerate(items):
        if position in foreign:
            continue
        txn.put(key, blob)


async def delete_documents(request: Request, keys: list[DocKey]) -> list[bool]:
    """Deletes documents (in the request's transaction, if any); which existed."""
    node = node_of(request)
    txn = transaction_of(request)
    if txn is None:
        return await node.documents.delete_many(keys)
    wire = [key.wire for key in keys]
    foreign = shard_parts.foreign_owners(node, wire)
    existed = {}
    if foreign:
        existed = await anyio.to_thread.run_sync(
            shard_parts.delete, node, txn, wire, foreign
        )
    return [
        existed[position]
        if position in foreign
        else txn.delete(key, node.storage.snapshot)
        for position, key in enumerate(keys)
    ]


def _requested_keys(body: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The keys a batch names: ``(None, wire keys)`` or ``(table, pks)``.

    Raises:
        BadRequest: neither or both forms are given, or a field has the wrong type.
    """
    if "pks" not in body:
        return None, _strings(body, "keys")
    if "keys" in body:
        raise BadRequest(
            "expected either 'keys' or 'table' with 'pks', received both 'keys' "
            "and 'pks'"
        )
    table: str = field(body, "table", str)
    return table, _strings(body, "pks")


def _key_list(body: dict[str, Any]) -> list[str]:
    """The wire keys a batch names, in either form."""
    return _wire_keys(*_requested_keys(body))


def _strings(body: dict[str, Any], name: str) -> list[str]:
    values: list[str] = field(body, name, list)
    _check_size(len(values))
    try:
        # Joining is a C-speed check that every entry is a string.
        " ".join(values)
    except TypeError:
        for position, value in enumerate(values):
            if not isinstance(value, str):
                raise BadRequest(
                    f"expected {name!r} to hold strings, received "
                    f"{type(value).__name__} at position {position}"
                ) from None
    return values


def _check_size(count: int) -> None:
    if count > MAX_BATCH_KEYS:
        raise BadRequest(
            f"a batch holds at most {MAX_BATCH_KEYS} keys, received {count}"
        )


def _item_key(item: Any, position: int) -> str:
    if not isinstance(item, dict):
        raise BadRequest(
            f"expected item {position} to be an object with 'key' and 'blob', "
            f"received {type(item).__name__}"
        )
    key: str = field(item, "key", str)
    return key


def _item_blob(item: dict[str, Any], key: str) -> bytes:
    if "doc" in item:
        return _document_text(item["doc"], key)
    if "blob" not in item:
        raise BadRequest(f"missing required field 'blob' (or 'doc') for {key!r}")
    return parse_blob(item["blob"], key)


def _document_text(doc: Any, key: str) -> bytes:
    if not isinstance(doc, dict):
        raise BadRequest(
            f"expected 'doc' of {key!r} to be a JSON object, "
            f"received {type(doc).__name__}"
        )
    return _json.dumps(doc)


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
