"""``GET /metrics``: the node's counters in the Prometheus text exposition format."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from themis.server.state import NodeState, node_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(node: NodeState) -> str:
    """Every metric family of a node, one ``# HELP``/``# TYPE`` header each."""
    return "".join(f"{line}\n" for line in _lines(node))


def _lines(node: NodeState) -> Iterator[str]:
    yield from _family("themis_uptime_seconds", "gauge", "Seconds since start.")
    yield f"themis_uptime_seconds {node.uptime_seconds()}"
    yield from _traffic(node)
    yield from _storage(node)
    yield from _family("themis_cursors_open", "gauge", "Open query cursors.")
    yield f"themis_cursors_open {len(node.cursors)}"
    yield from _transactions(node)


def _traffic(node: NodeState) -> Iterator[str]:
    routes = node.traffic.routes
    families = (
        ("themis_http_requests_total", "HTTP requests served.", "requests"),
        ("themis_http_received_bytes_total", "Request body bytes.", "bytes_received"),
        ("themis_http_sent_bytes_total", "Response body bytes.", "bytes_sent"),
    )
    for name, help_text, attribute in families:
        yield from _family(name, "counter", help_text)
        for route, counter in sorted(routes.items()):
            method, _, path = route.partition(" ")
            labels = f'method="{_escape(method)}",route="{_escape(path)}"'
            yield f"{name}{{{labels}}} {getattr(counter, attribute)}"


def _storage(node: NodeState) -> Iterator[str]:
    stats = node.storage.stats()
    yield from _family("themis_storage_entries", "gauge", "Entries per storage space.")
    for space, count in sorted(stats["entries"].items()):
        yield f'themis_storage_entries{{space="{space}"}} {count}'
    yield from _family(
        "themis_group_commits_total", "counter", "Durable storage commits."
    )
    yield f"themis_group_commits_total {stats['group_commits']}"
    yield from _family(
        "themis_write_batches_total", "counter", "Write batches in those commits."
    )
    yield f"themis_write_batches_total {stats['batches_committed']}"
    yield from _family(
        "themis_storage_used_bytes", "gauge", "Bytes of the store's map in use."
    )
    yield f"themis_storage_used_bytes {stats['used_bytes']}"
    yield from _family(
        "themis_storage_map_bytes",
        "gauge",
        "Most bytes the store may hold; writes get 507 once it is used up.",
    )
    yield f"themis_storage_map_bytes {stats['map_size_bytes']}"


def _transactions(node: NodeState) -> Iterator[str]:
    summary = node.transactions.summary()
    yield from _family(
        "themis_transactions_total", "counter", "Finished transactions by outcome."
    )
    for outcome in ("committed", "aborted", "conflicts"):
        value = summary[f"total_{outcome}"]
        yield f'themis_transactions_total{{outcome="{outcome}"}} {value}'
    yield from _family("themis_transactions_open", "gauge", "Open transactions.")
    yield f"themis_transactions_open {summary['active_count']}"
    yield from _family(
        "themis_transactions_prepared",
        "gauge",
        "Prepared parts of cross-shard commits awaiting their coordinator.",
    )
    yield f"themis_transactions_prepared {summary['prepared_count']}"


def _family(name: str, kind: str, help_text: str) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def metrics(request: Request) -> Response:
    return PlainTextResponse(render(node_of(request)), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, methods=["GET"])]
