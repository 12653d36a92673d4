"""What the sync and async drivers share: building requests, reading replies."""

from __future__ import annotations

import httpx

from themis import _json
from themis._core.effects import Call, Reply
from themis._core.protocol import TOPOLOGY_VERSION_HEADER
from themis._core.session import Session
from themis._core.topology import Topology
from themis.errors import ThemisError, http_error


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    session: Session,
    call: Call,
    topology: Topology | None,
    auth: dict[str, str],
) -> httpx.Request:
    """The httpx request of a core `Call`, routed through ``topology``."""
    headers = {**call.headers, **(auth if call.auth else {})}
    if topology is not None and topology.version >= 0 and call.endpoint is None:
        # The node trusts a batch's shard header only under the same topology.
        headers[TOPOLOGY_VERSION_HEADER] = str(topology.version)
    content = None
    if call.body is not None:
        content = _json.dumps(call.body)
        headers["Content-Type"] = "application/json"
    url = session.url(call, topology)
    return http.build_request(call.method, url, content=content, headers=headers)


def heed_topology(session: Session, response: httpx.Response) -> None:
    """Reads the topology again soon when a node routes by a newer version."""
    seen = response.headers.get(TOPOLOGY_VERSION_HEADER)
    current = session.topology.current
    if (
        seen is not None
        and seen.isdigit()
        and current is not None
        and 0 <= current.version < int(seen)
    ):
        session.topology.expire()


def to_reply(call: Call, response: httpx.Response) -> Reply:
    """The core `Reply` of a response, or the error its status means.

    Raises:
        ThemisHTTPError: the status is an error the call does not accept.
    """
    if response.is_success or response.status_code in call.accept:
        return Reply(response.status_code, response.content, str(response.url))
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise http_error(response) from exc
    raise ThemisError(f"unexpected status {response.status_code} from {response.url}")
