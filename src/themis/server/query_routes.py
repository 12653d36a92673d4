"""``POST /query/aql``: run AQL over the node's data, whole or page by page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.aql import AqlError, Budget, DataSource, Deadline, Query, compile_query
from themis.server import shard_parts
from themis.server.cluster_source import ClusterSource, Peer, ShardFailures
from themis.server.cursors import Opened, Page, fingerprint
from themis.server.errors import BadRequest, ServerError
from themis.server.http import field, json_response, read_object
from themis.server.keys import DEFAULT_NAMESPACE, check_segment
from themis.server.query_source import SnapshotSource
from themis.server.state import NodeState, node_of
from themis.server.storage_ops import ReadView
from themis.server.transaction_routes import transaction_of
from themis.server.transactions import Transaction

MAX_QUERY_CHARS = 100_000
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class QueryRequest:
    """A validated ``/query/aql`` body."""

    text: str
    namespace: str
    bind_vars: dict[str, Any]
    use_cursor: bool
    cursor: Any
    batch_size: int | None
    explain: bool
    scope: str = "cluster"
    allow_partial: bool = False

    @property
    def binding(self) -> str:
        """What a cursor token of this request is bound to."""
        return fingerprint(self.text, self.namespace, self.bind_vars)


def parse_query_request(body: dict[str, Any]) -> QueryRequest:
    """Validate the body of a query request.

    Raises:
        BadRequest: a field is missing or malformed.
    """
    text = field(body, "query", str)
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(
            f"expected a query of at most {MAX_QUERY_CHARS} characters, "
            f"received {len(text)}"
        )
    namespace = body.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str):
        raise BadRequest(
            f"expected 'namespace' to be a string, received {type(namespace).__name__}"
        )
    check_segment(namespace, "namespace")
    return QueryRequest(
        text=text,
        namespace=namespace,
        bind_vars=_bind_vars(body),
        use_cursor=_flag(body, "use_cursor"),
        cursor=body.get("cursor") or None,
        batch_size=_batch_size(body),
        explain=_flag(body, "explain"),
        scope=_scope(body),
        allow_partial=_flag(body, "allow_partial"),
    )


def _scope(body: dict[str, Any]) -> str:
    scope = body.get("scope", "cluster")
    if scope not in ("cluster", "local"):
        raise BadRequest(
            f"expected 'scope' to be 'cluster' or 'local', received {scope!r}"
        )
    return str(scope)


def _bind_vars(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("params")
    bind_vars = body.get("bindVars")
    if params is not None and bind_vars is not None:
        raise BadRequest("give bind parameters in 'params' or 'bindVars', not both")
    chosen = params if params is not None else bind_vars
    if chosen is None:
        return {}
    if not isinstance(chosen, dict):
        raise BadRequest(
            "expected bind parameters to be an object, "
            f"received {type(chosen).__name__}"
        )
    return chosen


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(
            f"expected {name!r} to be true or false, received {value!r:.40}"
        )
    return value


def _batch_size(body: dict[str, Any]) -> int | None:
    value = body.get("batch_size")
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not (1 <= value <= MAX_BATCH_SIZE)
    ):
        raise BadRequest(
            f"expected 'batch_size' to be an integer from 1 to {MAX_BATCH_SIZE}, "
            f"received {value!r:.40}"
        )
    return value


def compile_checked(text: str) -> Query:
    """Compile a query, turning engine errors into 400s."""
    try:
        return compile_query(text)
    except AqlError as exc:
        raise BadRequest(str(exc)) from exc


def open_rows(
    node: NodeState,
    request: QueryRequest,
    query: Query,
    budget: Budget,
    failures: ShardFailures | None = None,
    txn: Transaction | None = None,
    deadline: Deadline | None = None,
) -> tuple[Iterator[Any], Callable[[], None]]:
    """Start executing a query on a fresh snapshot; returns rows and a closer.

    On a node of a multi-shard cluster the query runs over every shard, unless the
    request's scope is ``local`` (how a coordinator asks for one shard's part).
    """
    view, close_view = _view_for(node, txn)
    local = node.query_source(
        view, request.namespace, use_indexes=txn is None or not txn.has_writes()
    )
    source: DataSource = local
    if request.scope == "cluster" and len(node.peers()) > 1:
        try:
            headers = None if txn is None else shard_parts.query_headers(node, txn)
        except ServerError:
            close_view()
            raise
        source = _cluster_source(node, request, local, failures, headers)
    try:
        rows = query.execute(
            source, request.bind_vars, budget=budget, deadline=deadline
        )
    except AqlError as exc:
        close_view()
        raise BadRequest(str(exc)) from exc
    return _translated(rows), close_view


def _view_for(
    node: NodeState, txn: Transaction | None
) -> tuple[ReadView, Callable[[], None]]:
    if txn is None:
        snapshot = node.storage.snapshot()
        return snapshot, snapshot.close
    return txn.read_view(node.storage.snapshot)


def _cluster_source(
    node: NodeState,
    request: QueryRequest,
    local: SnapshotSource,
    failures: ShardFailures | None,
    headers: dict[str, dict[str, str]] | None,
) -> ClusterSource:
    peers = node.peers()
    return ClusterSource(
        peers=[Peer(sid, url) for sid, url in peers if sid != node.shard_id],
        local=local,
        local_id=node.shard_id,
        shard_ids=[sid for sid, _ in peers],
        namespace=request.namespace,
        http=node.peer_http,
        pool=node.peer_pool,
        failures=failures or ShardFailures(request.allow_partial),
        headers=headers,
    )


def _translated(rows: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from rows
    except AqlError as exc:
        raise BadRequest(str(exc)) from exc


async def query_aql(request: Request) -> Response:
    node = node_of(request)
    parsed = parse_query_request(await read_object(request))
    query = compile_checked(parsed.text)
    txn = transaction_of(request)
    if parsed.explain:
        return json_response(
            await anyio.to_thread.run_sync(_explain, node, parsed, query)
        )
    if not parsed.use_cursor:
        failures = ShardFailures(parsed.allow_partial)
        rows = await anyio.to_thread.run_sync(
            _run_all, node, parsed, query, failures, txn
        )
        whole: dict[str, Any] = {"entities": rows, "count": len(rows)}
        if parsed.allow_partial:
            whole["missing_shards"] = failures.missing
        return json_response(whole)
    page = await anyio.to_thread.run_sync(_run_page, node, parsed, query, txn)
    body: dict[str, Any] = {
        "items": page.items,
        "has_more": page.has_more,
        "batch_size": page.batch_size,
        "count": len(page.items),
    }
    if page.next_token is not None:
        body["next_cursor"] = page.next_token
    if parsed.allow_partial and isinstance(page.context, ShardFailures):
        # Shards missing so far; a shard that fails later shows on later pages.
        body["missing_shards"] = list(page.context.missing)
    return json_response(body)


def _run_all(
    node: NodeState,
    request: QueryRequest,
    query: Query,
    failures: ShardFailures,
    txn: Transaction | None,
) -> list[Any]:
    rows, close = open_rows(node, request, query, node.query_budget, failures, txn)
    try:
        return list(rows)
    finally:
        close()


def _run_page(
    node: NodeState, request: QueryRequest, query: Query, txn: Transaction | None
) -> Page:
    budget = node.query_budget

    def restart() -> Opened:
        # The time budget bounds each page: the cursor renews the deadline before
        # taking one, so a client may pause between pages but no page runs long.
        failures = ShardFailures(request.allow_partial)
        deadline = Deadline(budget.max_seconds)
        rows, close = open_rows(node, request, query, budget, failures, txn, deadline)
        return Opened(rows, close, failures, deadline.renew)

    if request.cursor is None:
        size = request.batch_size or DEFAULT_BATCH_SIZE
        return node.cursors.first_page(restart(), request.binding, size)
    return node.cursors.next_page(
        request.cursor, request.binding, request.batch_size, restart
    )


def _explain(node: NodeState, request: QueryRequest, query: Query) -> dict[str, Any]:
    with node.storage.snapshot() as view:
        source = node.query_source(view, request.namespace)
        try:
            plan = query.explain(source, request.bind_vars)
        except AqlError as exc:
            raise BadRequest(str(exc)) from exc
    return {"query": request.text, "plan": plan}


routes = [
    Route("/query/aql", query_aql, methods=["POST"]),
    Route("/api/aql", query_aql, methods=["POST"]),
]
