"""Moving documents when the set of shards changes: a rebalance.

Keys belong to shard ids, so adding or removing a shard hands some hash slots to
other shards, and the documents in them must move there. ``themis cluster rebalance``
takes the cluster from its topology to a *target* one in four steps, each a request
to every node involved (old shards and new):

1. ``begin``: the node enters maintenance with the target. Writes, queries and
   searches answer 503 with ``Retry-After`` (the SDK waits and retries), so that no
   write lands on a shard that is about to give its key away and no query counts a
   document on its way. Reads of keys go on: a key missing here is looked for on
   its owners under both topologies (`maintenance.fill_moving`). Health,
   statistics and the topology stay up.
2. ``move``: the node gives every other shard of the target the definitions it holds
   (secondary indexes, named graphs, vector indexes), then sends each document that
   another shard owns under the target to that shard and deletes it here, a chunk
   at a time. Indexes, adjacency and vectors follow the documents through the
   ordinary write paths on both sides. A chunk is deleted here only once its new
   owner stored it, so a failure leaves a document on both shards, never on none;
   running the move again finishes it.
3. The command publishes the target (file, etcd).
4. ``end``: the node adopts the target and leaves maintenance.

The maintenance state and the adopted topology are kept in the node's store, so a
node restarted midway stays in maintenance, and one restarted after with an older
topology file keeps the topology it adopted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json, _routing
from themis.server import peers
from themis.server.documents import parse_blob
from themis.server.errors import BadRequest, Conflict
from themis.server.graph import graph_definition_op, graph_definitions
from themis.server.http import json_response, read_object
from themis.server.indexes import definition_from_json
from themis.server.keys import DocKey, decode_storage_key, parse_key
from themis.server.maintenance import ADOPTED_KEY, TARGET_KEY, shard_ids
from themis.server.state import NodeState, node_of, shard_url
from themis.server.storage_ops import Compute, Delete, Put, ReadView
from themis.server.topology import ConfigError, check_topology
from themis.server.vector_definitions import define_here, wire_spec
from themis.server.vector_routes import requested_spec
from themis.server.vector_spec import stored_specs

__all__ = ["routes"]

#: Documents, and body bytes, in one chunk a node sends to another shard.
CHUNK_DOCUMENTS = 2000
CHUNK_BYTES = 4 * 1024 * 1024
_PROGRESS = "rebalance.progress"


# --- the steps ----------------------------------------------------------------------


async def begin(request: Request) -> Response:
    """Enters maintenance with the target topology (the same one again is a no-op)."""
    node = node_of(request)
    target = _target_of(await read_object(request))
    current = node.rebalance
    if current is not None and current != target:
        if not _replacing(request):
            raise Conflict(
                f"a rebalance to topology version {current.get('version')} is under "
                f"way; run it to its end, or abort it, first"
            )
    elif current is None:
        _check_quiet(node)
    if current != target:
        node.extensions.pop(_PROGRESS, None)
    await node.storage.write_async([Put("meta", TARGET_KEY, _json.dumps(target))])
    node.rebalance = target
    return json_response({"success": True, "shard_id": node.shard_id, **_state(node)})


async def status(request: Request) -> Response:
    """The node's topology and, during a rebalance, its target."""
    return json_response(
        {"shard_id": node_of(request).shard_id, **_state(node_of(request))}
    )


async def define(request: Request) -> Response:
    """Takes the definitions another shard holds (see `_definitions`)."""
    node = node_of(request)
    _require_target(node)
    body = await read_object(request)
    indexes, graphs, vectors = (_list_of(body, name) for name in _DEFINITIONS)
    for item in (*graphs, *vectors):
        if not isinstance(item, dict):
            raise BadRequest(f"expected a definition object, received {item!r:.80}")
    for graph in graphs:
        if not isinstance(graph.get("name"), str):
            raise BadRequest(
                f"expected a named graph definition, received {graph!r:.80}"
            )
    specs = [requested_spec(spec) for spec in vectors]
    try:
        definitions = [definition_from_json(raw) for raw in indexes]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BadRequest(
            f"expected index definitions as shards list them: {exc!r}"
        ) from None
    for definition in definitions:
        await node.catalog.create(definition)
    for spec in specs:
        await define_here(node, spec)
    if graphs:
        await node.storage.write_async(
            [Compute(lambda view: _new_graphs(view, graphs))]
        )
    return json_response({"success": True})


async def receive(request: Request) -> Response:
    """Stores the documents another shard hands over; each must be this shard's."""
    node = node_of(request)
    target = _require_target(node)
    body = await read_object(request)
    items = body.get("documents")
    if not isinstance(items, list):
        raise BadRequest("expected 'documents': a list of [key, text] pairs")
    router = _routing.router(shard_ids(target))
    stored: list[tuple[bytes, bytes]] = []
    for item in items:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, str) for x in item)
        ):
            raise BadRequest(
                f"expected a [key, text] pair of strings, received {item!r:.80}"
            )
        key = parse_key(item[0])
        if _owner(router, key) != node.shard_id:
            raise BadRequest(
                f"{key.wire!r} belongs to shard {_owner(router, key)!r} under "
                f"topology version {target.get('version')}, not to this one"
            )
        stored.append((key.storage(), parse_blob(item[1], key.wire)))
    await node.documents.put_many(stored)
    return json_response({"success": True, "stored": len(stored)})


async def move(request: Request) -> Response:
    """Sends every document another shard owns under the target to that shard."""
    node = node_of(request)
    target = _require_target(node)
    urls = {str(s.get("id")): shard_url(s) for s in target["shards"]}
    others = {sid: url for sid, url in urls.items() if sid != node.shard_id}
    kept = _definitions(node)
    for shard_id, url in others.items():
        await anyio.to_thread.run_sync(
            _ask,
            node,
            shard_id,
            url + "/_internal/rebalance/define",
            kept,
            "definitions",
        )
    router = _routing.router(urls)
    moved: dict[str, int] = {}
    foreign = await anyio.to_thread.run_sync(_foreign, node, router)
    progress = node.extensions[_PROGRESS] = {
        "documents": sum(map(len, foreign.values())),
        "moved": 0,
    }
    for shard_id, keys in foreign.items():
        url = others[shard_id] + "/_internal/rebalance/receive"
        for start in range(0, len(keys), CHUNK_DOCUMENTS):
            part = keys[start : start + CHUNK_DOCUMENTS]
            for chunk in await anyio.to_thread.run_sync(_texts, node, part):
                body = {"documents": [[key.wire, text.decode()] for key, text in chunk]}
                await anyio.to_thread.run_sync(
                    _ask, node, shard_id, url, body, "documents"
                )
                await node.documents.delete_many([key for key, _ in chunk])
                moved[shard_id] = moved.get(shard_id, 0) + len(chunk)
                progress["moved"] += len(chunk)
    return json_response(
        {
            "success": True,
            "shard_id": node.shard_id,
            "moved": sum(moved.values()),
            "to": moved,
        }
    )


async def preview(request: Request) -> Response:
    """How many documents here another shard would own under a proposed topology,
    by that shard; nothing changes."""
    node = node_of(request)
    target = _target_of(await read_object(request))
    router = _routing.router(shard_ids(target))
    foreign = await anyio.to_thread.run_sync(_foreign, node, router)
    moving = {shard_id: len(keys) for shard_id, keys in sorted(foreign.items())}
    return json_response(
        {"shard_id": node.shard_id, "moved": sum(moving.values()), "to": moving}
    )


async def end(request: Request) -> Response:
    """Adopts the target topology and leaves maintenance."""
    node = node_of(request)
    target = _target_of(await read_object(request))
    if node.rebalance is not None and node.rebalance != target:
        raise Conflict(
            f"this node is rebalancing to topology version "
            f"{node.rebalance.get('version')}, not to version {target.get('version')}"
        )
    current = node.current_topology()
    if node.rebalance is None and target != current:
        # Ended already (a repeated command) is fine; an unrelated topology is not.
        raise Conflict(
            f"this node is not rebalancing; it routes by topology version "
            f"{current.get('version')}"
        )
    await node.storage.write_async(
        [Put("meta", ADOPTED_KEY, _json.dumps(target)), Delete("meta", TARGET_KEY)]
    )
    node.topology = target
    node.rebalance = None
    return json_response({"success": True, "shard_id": node.shard_id, **_state(node)})


routes = [
    Route("/_internal/rebalance", status, methods=["GET"]),
    Route("/_internal/rebalance/begin", begin, methods=["POST"]),
    Route("/_internal/rebalance/define", define, methods=["POST"]),
    Route("/_internal/rebalance/receive", receive, methods=["POST"]),
    Route("/_internal/rebalance/move", move, methods=["POST"]),
    Route("/_internal/rebalance/preview", preview, methods=["POST"]),
    Route("/_internal/rebalance/end", end, methods=["POST"]),
]


# --- helpers ------------------------------------------------------------------------

_DEFINITIONS = ("indexes", "graphs", "vectors")


def _state(node: NodeState) -> dict[str, Any]:
    return {
        "topology": node.current_topology(),
        "target": node.rebalance,
        "open_transactions": _open_transactions(node),
        # Of the node's latest move: documents to send, and sent so far.
        "moving": node.extensions.get(_PROGRESS),
    }


def _target_of(body: dict[str, Any]) -> dict[str, Any]:
    try:
        target = check_topology(body.get("topology"), "the request")
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    for shard in target["shards"]:
        if not isinstance(shard, dict) or not isinstance(shard.get("id"), str):
            raise BadRequest(
                f"expected every shard of the target as {{'id', 'http_endpoint'}}, "
                f"received {shard!r:.80}"
            )
    return target


def _replacing(request: Request) -> bool:
    return request.query_params.get("replace") == "true"


def _open_transactions(node: NodeState) -> int:
    summary = node.transactions.summary()
    return int(summary.get("active_count", 0)) + len(node.transactions.prepared())


def _check_quiet(node: NodeState) -> None:
    waiting = _open_transactions(node)
    if waiting:
        raise Conflict(
            f"{waiting} transactions are open or prepared on shard {node.shard_id!r}; "
            "a rebalance begins once they have ended"
        )


def _require_target(node: NodeState) -> dict[str, Any]:
    if node.rebalance is None:
        raise Conflict(f"shard {node.shard_id!r} is not rebalancing; begin first")
    return node.rebalance


def _owner(router: _routing.Router, key: DocKey) -> str:
    return router.owner(_routing.routing_key(key.wire))


def _list_of(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise BadRequest(f"expected '{name}' to be a list, received {value!r:.80}")
    return value


def _definitions(node: NodeState) -> dict[str, list[Any]]:
    with node.storage.snapshot() as view:
        graphs = graph_definitions(view)
        specs = stored_specs(view)
    return {
        "indexes": [d.to_json() for d in node.catalog.all()],
        "graphs": graphs,
        "vectors": [wire_spec(spec) for spec in specs],
    }


def _new_graphs(view: ReadView, graphs: Sequence[Any]) -> list[Put]:
    known = {g["name"] for g in graph_definitions(view)}
    return [graph_definition_op(g) for g in graphs if g["name"] not in known]


def _foreign(node: NodeState, router: _routing.Router) -> dict[str, list[DocKey]]:
    """The documents here that other shards own, by owner, in storage order."""
    by_owner: dict[str, list[DocKey]] = {}
    with node.storage.snapshot() as view:
        for raw, _ in view.scan("docs"):
            key = decode_storage_key(raw)
            owner = _owner(router, key)
            if owner != node.shard_id:
                by_owner.setdefault(owner, []).append(key)
    return by_owner


def _texts(node: NodeState, keys: list[DocKey]) -> list[list[tuple[DocKey, bytes]]]:
    """The stored texts of ``keys``, cut into chunks of at most `CHUNK_BYTES`."""
    with node.storage.snapshot() as view:
        texts = view.get_many("docs", [key.storage() for key in keys])
    chunks: list[list[tuple[DocKey, bytes]]] = [[]]
    size = 0
    for key, text in zip(keys, texts, strict=True):
        if text is None:
            continue
        if chunks[-1] and size + len(text) > CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((key, text))
        size += len(text)
    return [chunk for chunk in chunks if chunk]


def _ask(node: NodeState, shard_id: str, url: str, body: Any, what: str) -> None:
    peers.ask(node, shard_id, url, body, purpose=f"the rebalance's {what}")
