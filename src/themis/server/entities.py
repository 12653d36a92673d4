"""Entity routes: single keys as upstream, and batches of keys in one request."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as field_of
from functools import partial
from typing import Any, cast
from urllib.parse import quote

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json
from themis._core.protocol import SHARD_HEADER
from themis.server import peers, shard_parts
from themis.server.documents import parse_blob
from themis.server.errors import BadRequest, NotFound, ServerError
from themis.server.http import PEER_HEADER, field, json_response, read_object
from themis.server.keys import DocKey, parse_key, storage_keys, table_storage_keys
from themis.server.state import node_of
from themis.server.storage_ops import ReadView
from themis.server.transaction_routes import transaction_of

MAX_BATCH_KEYS = 10_000
_OWN_KEYS = "the keys it owns"


async def get_entity(request: Request) -> Response:
    key = parse_key(request.path_params["key"])
    forwarded = await _at_owner(request, key, "GET")
    if forwarded is not None:
        return forwarded
    (blob,) = await read_stored(request, [key])
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
    forwarded = await _at_owner(request, key, "DELETE")
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
    forwarded = await _at_owner(request, key, "PUT", {"blob": body["blob"]})
    if forwarded is not None:
        return forwarded
    await write_documents(request, [(key, blob)])
    return json_response(
        {"success": True, "key": key.wire, "blob_size": len(blob)}, status_code=201
    )


async def _at_owner(
    request: Request, key: DocKey, method: str, body: dict[str, Any] | None = None
) -> Response | None:
    """The answer of the shard that owns ``key``, when it is not this one.

    On a cluster a key lives on the shard its hash names; a client that sends it to
    another node (one that does not route, as the SDK does) is served by the owner
    through this node, so that it lands where every reader looks. Inside a
    transaction the transaction's parts do this instead; requests from other
    shards are always for this one.
    """
    if PEER_HEADER in request.headers or transaction_of(request) is not None:
        return None
    node = node_of(request)
    owners = shard_parts.foreign_owners(node, [key.wire])
    if not owners:
        return None
    shard_id = owners[0]
    url = dict(node.peers())[shard_id] + "/entities/" + quote(key.wire, safe=":")
    answer = await anyio.to_thread.run_sync(
        partial(peers.send, purpose=f"for {key.wire!r}, which it owns"),
        node,
        shard_id,
        method,
        url,
        body,
    )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type="application/json",
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
    elif _passes_on(request):
        await _read_at_owners(request, _wire_keys(table, names), blobs, invalid)
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
    elsewhere = _owned_elsewhere(request, [key for key, _, _ in valid])
    moved = Outcomes()
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
        moved = await _at_owners(request, "/batch/put", parts)
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
    elsewhere = _owned_elsewhere(request, [key.wire for key in valid])
    moved = Outcomes()
    if elsewhere:
        parts = {}
        for shard_id, positions in elsewhere.items():
            keys = [valid[p].wire for p in positions]
            parts[shard_id] = (keys, {"keys": keys})
        moved = await _at_owners(request, "/batch/delete", parts)
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


# --- keys of other shards, outside transactions -----------------------------------


@dataclass
class Outcomes:
    """What the shards owning some of a batch's keys answered for them."""

    succeeded: list[str] = field_of(default_factory=list)
    missing: list[str] = field_of(default_factory=list)
    failed: dict[str, str] = field_of(default_factory=dict)


def _passes_on(request: Request) -> bool:
    """Whether this node must pass on the keys of a batch that other shards own:
    outside transactions, on a cluster, for a client that did not route them here
    (the SDK names the shard it routed a batch to; shards ask for their own keys).
    """
    if transaction_of(request) is not None or PEER_HEADER in request.headers:
        return False
    node = node_of(request)
    return request.headers.get(SHARD_HEADER) != node.shard_id and len(node.peers()) > 1


def _owned_elsewhere(
    request: Request, wire_keys: Sequence[str]
) -> dict[str, list[int]]:
    """The positions of the keys other shards own, by shard, when this node must
    pass them on (see `_passes_on`)."""
    if not _passes_on(request):
        return {}
    by_shard: dict[str, list[int]] = {}
    owners = shard_parts.foreign_owners(node_of(request), wire_keys)
    for position, shard_id in owners.items():
        by_shard.setdefault(shard_id, []).append(position)
    return by_shard


async def _at_owners(
    request: Request, path: str, parts: dict[str, tuple[list[str], dict[str, Any]]]
) -> Outcomes:
    """Sends each owning shard its part of a batch write and gathers the answers.

    Args:
        parts: By shard id, the wire keys of its part and the body to send it.

    A shard that does not answer fails only its own keys, as a batch does.
    """
    node = node_of(request)
    urls = dict(node.peers())

    def ask(
        shard_id: str, part: tuple[list[str], dict[str, Any]]
    ) -> dict[str, Any] | ServerError:
        try:
            return peers.ask(
                node, shard_id, urls[shard_id] + path, part[1], purpose=_OWN_KEYS
            )
        except ServerError as exc:
            return exc

    answers = await anyio.to_thread.run_sync(shard_parts.each_part, node, parts, ask)
    outcomes = Outcomes()
    for (keys, _), answer in zip(parts.values(), answers, strict=True):
        if isinstance(answer, ServerError):
            outcomes.failed.update(dict.fromkeys(keys, answer.message))
            continue
        outcomes.succeeded += _strings_in(answer, "succeeded")
        outcomes.missing += _strings_in(answer, "missing")
        reported = answer.get("failed") or {}
        outcomes.failed.update((str(k), str(v)) for k, v in reported.items())
    return outcomes


def _strings_in(answer: dict[str, Any], name: str) -> list[str]:
    return [item for item in answer.get(name) or () if isinstance(item, str)]


async def _read_at_owners(
    request: Request,
    wire_keys: Sequence[str],
    blobs: list[bytes | None],
    invalid: Mapping[int, str],
) -> None:
    """Fills in what the owning shards hold for keys this node does not own."""
    elsewhere = _owned_elsewhere(request, wire_keys)
    if not elsewhere:
        return
    node = node_of(request)
    urls = dict(node.peers())

    def read(shard_id: str, positions: list[int]) -> list[Any]:
        wanted = [p for p in positions if p not in invalid]
        keys = [wire_keys[p] for p in wanted]
        url = urls[shard_id]
        texts = peers.stored_texts(node, shard_id, url, keys, purpose=_OWN_KEYS)
        return list(zip(wanted, texts, strict=True))

    answers = await anyio.to_thread.run_sync(
        shard_parts.each_part, node, elsewhere, read
    )
    for pairs in answers:
        for position, text in pairs:
            blobs[position] = text


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
