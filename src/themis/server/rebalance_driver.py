"""What ``themis cluster rebalance`` does: drives the steps of server/rebalance.py
from outside the nodes, over HTTP, for every node of the old and the new topology.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from themis import _json
from themis.server.errors import ServerError
from themis.server.etcd import EtcdClient, EtcdLocation
from themis.server.state import shard_url
from themis.server.topology import EtcdTopology, is_etcd_url, load_topology_file

__all__ = [
    "Plan",
    "RebalanceError",
    "execute",
    "plan",
    "preview",
    "publish",
    "read_topology",
    "timeout",
]

#: How long one step may wait for a node; moving a large shard takes a while.
_CONNECT_SECONDS = 10.0
#: How often the nodes are asked how far their moves are.
_POLL_SECONDS = 0.25
#: How long a shard named lost has to answer to show it is not.
_LOST_PROBE_SECONDS = 2.0


class RebalanceError(ServerError):
    """The rebalance cannot start, or stopped midway."""

    status_code = 409


class _Unreachable(RebalanceError):
    """A node did not answer at all."""


@dataclass
class Plan:
    """Where a rebalance goes and which nodes take part.

    Attributes:
        current: The published topology.
        target: The topology the nodes move their documents for.
        nodes: ``(shard id, URL)`` of every node of either topology.
        resumed: Whether the nodes were already rebalancing to ``target``.
        replace: Whether the nodes rebalance to another target now (an abort).
    """

    current: dict[str, Any]
    target: dict[str, Any]
    nodes: list[tuple[str, str]]
    resumed: bool = False
    replace: bool = False
    moved: dict[str, int] = field(default_factory=dict)


def read_topology(source: str) -> dict[str, Any]:
    """The topology published at ``source`` (a file, or an ``etcd://`` URL)."""
    if not is_etcd_url(source):
        return load_topology_file(Path(source))
    reader = EtcdTopology(source)
    try:
        return reader.read()
    finally:
        reader.client.close()


def publish(source: str, topology: dict[str, Any]) -> None:
    """Replaces the topology at ``source``; a file is replaced in one rename."""
    payload = _json.dumps(topology)
    if is_etcd_url(source):
        location = EtcdLocation.parse(source)
        client = EtcdClient(location.base_url)
        try:
            client.put(location.key, payload)
        finally:
            client.close()
        return
    path = Path(source)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(payload)
    os.replace(temporary, path)


def plan(
    current: dict[str, Any],
    add: Sequence[tuple[str, str]],
    remove: Sequence[str],
    *,
    abort: bool,
    http: httpx.Client,
    lost: Sequence[str] = (),
) -> Plan:
    """Works out the target from the published topology and the nodes' state.

    A rebalance under way is resumed (when nothing else is asked) or aborted; a new
    one adds and removes the shards given.

    Args:
        lost: Shards gone for good: dropped from the topology without being asked
            anything, their documents with them. Each must be silent.

    Raises:
        RebalanceError: the request contradicts the topology or a rebalance under
            way, or a shard named lost answers.
    """
    shards = _shards(current)
    _check_lost(http, shards, lost)
    alive = [(shard_id, url) for shard_id, url in shards if shard_id not in lost]
    under_way = _under_way(http, alive)
    if abort:
        if under_way is None:
            raise RebalanceError("no rebalance is under way; there is nothing to abort")
        nodes = _union(alive, _shards(under_way))
        return Plan(current, current, nodes, replace=True)
    if under_way is not None:
        kept = {shard_id for shard_id, _ in _shards(under_way)}.intersection(lost)
        if add or remove or kept:
            raise RebalanceError(
                f"a rebalance to topology version {under_way.get('version')} is under "
                "way; run the command without --add/--remove (with --lost for the "
                "shards it drops that are gone) to finish it, or with --abort"
            )
        return Plan(current, under_way, _union(alive, _shards(under_way)), resumed=True)
    target = _changed(current, add, [*remove, *lost])
    return Plan(current, target, _union(alive, _shards(target)))


def _check_lost(
    http: httpx.Client, shards: list[tuple[str, str]], lost: Sequence[str]
) -> None:
    """Refuses to give up a shard that is not in the topology, or that answers."""
    urls = dict(shards)
    for shard_id in lost:
        if shard_id not in urls:
            raise RebalanceError(f"shard {shard_id!r} is not in the topology")
        try:
            http.get(f"{urls[shard_id]}/health", timeout=_LOST_PROBE_SECONDS)
        except httpx.HTTPError:
            continue
        raise RebalanceError(
            f"shard {shard_id!r} answers at {urls[shard_id]}; --lost drops only a "
            f"shard that is gone for good: --remove it to move its documents"
        )


def execute(
    plan: Plan,
    source: str,
    http: httpx.Client,
    say: Callable[[str], None],
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Takes every node through the steps and publishes the target at ``source``.

    Every step may be repeated, so running the same plan again after a failure
    finishes the rebalance.

    Args:
        progress: Called with the documents to move and those moved so far, a few
            times a second while the nodes move them.

    Raises:
        RebalanceError: a node is unreachable or refused a step; the nodes stay in
            maintenance.
    """
    for shard_id, url in plan.nodes:
        state = _call(http, shard_id, url, "GET", "/_internal/rebalance")
        waiting = state.get("open_transactions") or 0
        if waiting and state.get("target") is None:
            raise RebalanceError(
                f"{waiting} transactions are open or prepared on shard {shard_id!r}; "
                "a rebalance begins once they have ended"
            )
    query = "?replace=true" if plan.replace else ""
    begin = f"/_internal/rebalance/begin{query}"
    for shard_id, url in plan.nodes:
        _call(http, shard_id, url, "POST", begin, {"topology": plan.target})
    say(f"{len(plan.nodes)} nodes hold writes and queries while documents move")
    # Every node moves its documents at once; each waits for its new owners'
    # commits, so together they keep the disks busier than one at a time.
    with ThreadPoolExecutor(len(plan.nodes)) as pool:
        moves = [pool.submit(_move, http, *node) for node in plan.nodes]
        while progress is not None and wait(moves, timeout=_POLL_SECONDS).not_done:
            progress(*_moving(http, plan.nodes))
        answers = [move.result() for move in moves]
    if progress is not None:
        progress(*_moving(http, plan.nodes))
    for (shard_id, _), answer in zip(plan.nodes, answers, strict=True):
        for to, count in dict(answer.get("to") or {}).items():
            plan.moved[f"{shard_id} -> {to}"] = int(count)
        say(f"{shard_id}: moved {answer.get('moved', 0)} documents")
    publish(source, plan.target)
    for shard_id, url in plan.nodes:
        _call(
            http,
            shard_id,
            url,
            "POST",
            "/_internal/rebalance/end",
            {"topology": plan.target},
        )


def preview(plan: Plan, http: httpx.Client) -> None:
    """Fills ``plan.moved`` with what `execute` would move, changing nothing."""
    body = {"topology": plan.target}
    path = "/_internal/rebalance/preview"
    for shard_id, url in plan.nodes:
        answer = _call(http, shard_id, url, "POST", path, body)
        for to, count in dict(answer.get("to") or {}).items():
            plan.moved[f"{shard_id} -> {to}"] = int(count)


def _moving(http: httpx.Client, nodes: list[tuple[str, str]]) -> tuple[int, int]:
    """Documents to move and moved so far, summed over the nodes that answer."""
    documents = moved = 0
    for shard_id, url in nodes:
        try:
            state = _call(http, shard_id, url, "GET", "/_internal/rebalance")
        except RebalanceError:
            continue  # the move itself reports a node that fails
        counts = state.get("moving") or {}
        documents += int(counts.get("documents", 0))
        moved += int(counts.get("moved", 0))
    return documents, moved


def _move(http: httpx.Client, shard_id: str, url: str) -> dict[str, Any]:
    return _call(http, shard_id, url, "POST", "/_internal/rebalance/move", {})


def _shards(topology: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for shard in topology["shards"]:
        shard_id = shard.get("id") if isinstance(shard, dict) else None
        if not isinstance(shard_id, str):
            raise RebalanceError(
                "a rebalance needs every shard listed with an id, received "
                f"{shard!r:.80}"
            )
        found.append((shard_id, shard_url(shard)))
    return found


def _union(*groups: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: dict[str, str] = {}
    for group in groups:
        for shard_id, url in group:
            merged.setdefault(shard_id, url)
    return list(merged.items())


def _changed(
    current: dict[str, Any], add: Sequence[tuple[str, str]], remove: Sequence[str]
) -> dict[str, Any]:
    shards = [dict(s) for s in current["shards"]]
    known = {s["id"] for s in shards}
    for shard_id, url in add:
        if shard_id in known:
            raise RebalanceError(f"shard {shard_id!r} is in the topology already")
        shards.append({"id": shard_id, "http_endpoint": url.rstrip("/")})
        known.add(shard_id)
    for shard_id in remove:
        if shard_id not in known:
            raise RebalanceError(f"shard {shard_id!r} is not in the topology")
    shards = [s for s in shards if s["id"] not in set(remove)]
    if not shards:
        raise RebalanceError("a topology needs at least one shard")
    if not add and not remove:
        raise RebalanceError(
            "name shards to --add, --remove or --lost; nothing would change"
        )
    version = current.get("version", 1)
    return {**current, "version": version + 1, "shards": shards}


def _under_way(
    http: httpx.Client, shards: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """The target of a rebalance some node of the topology is in, if any."""
    for shard_id, url in shards:
        try:
            answer = _call(http, shard_id, url, "GET", "/_internal/rebalance")
        except _Unreachable as exc:
            raise RebalanceError(
                f"{exc.message}; if it is gone for good, name it with --lost"
            ) from None
        target = answer.get("target")
        if isinstance(target, dict):
            return target
    return None


def _call(
    http: httpx.Client,
    shard_id: str,
    url: str,
    method: str,
    path: str,
    body: Any = None,
) -> dict[str, Any]:
    try:
        response = http.request(
            method,
            url + path,
            content=None if body is None else _json.dumps(body),
            headers={"content-type": "application/json"},
        )
    except httpx.HTTPError as exc:
        silent = f"shard {shard_id!r} at {url} did not answer: {exc}"
        raise _Unreachable(silent) from None
    try:
        answer = _json.loads(response.content)
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict):
        message = answer.get("message") if isinstance(answer, dict) else None
        raise RebalanceError(
            f"shard {shard_id!r} refused {method} {path} with {response.status_code}: "
            f"{message or response.text[:200]}"
        )
    return answer


def timeout() -> httpx.Timeout:
    """No limit on reading: a node answers ``move`` once its documents moved."""
    return httpx.Timeout(_CONNECT_SECONDS, read=None)
