"""Prepared parts of cross-shard commits: reserved keys, crashes and recovery."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from themis import _routing
from themis.server.launcher import LocalCluster, NodeProcess
from themis.server.storage import Storage
from themis.server.storage_ops import Put

TABLE = "relational.default.prepared"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Two shards: the coordinator (lowest id) and a participant."""
    with LocalCluster(tmp_path_factory.mktemp("two-phase"), shards=2) as cluster:
        yield cluster


def _roles(cluster: LocalCluster) -> tuple[NodeProcess, NodeProcess]:
    coordinator, participant = sorted(cluster.nodes, key=lambda n: str(n.shard_id))
    return coordinator, participant


def _owned_key(cluster: LocalCluster, node: NodeProcess) -> str:
    shard_ids = [str(n.shard_id) for n in cluster.nodes]
    while True:
        key = f"{TABLE}:{uuid.uuid4().hex}"
        if _routing.owner(shard_ids, _routing.routing_key(key)) == node.shard_id:
            return key


def _begin(url: str) -> int:
    answer = httpx.post(f"{url}/transaction/begin", json={"isolation": "snapshot"})
    ident: int = answer.json()["transaction_id"]
    return ident


def _put(url: str, key: str, value: object, txn: int | None = None) -> int:
    headers = {} if txn is None else {"X-Transaction-Id": str(txn)}
    body = {"blob": orjson.dumps(value).decode()}
    response = httpx.put(f"{url}/entities/{key}", json=body, headers=headers)
    return response.status_code


def _get(url: str, key: str) -> object:
    response = httpx.get(f"{url}/entities/{key}")
    return (
        None if response.status_code == 404 else orjson.loads(response.json()["blob"])
    )


def _prepare(url: str, txn: int, coordinator: list[object]) -> httpx.Response:
    body = {"transaction_id": txn, "coordinator": coordinator}
    return httpx.post(f"{url}/transaction/prepare", json=body)


def _prepared_count(url: str) -> int:
    count: int = httpx.get(f"{url}/transaction/stats").json()["prepared_count"]
    return count


def _prepared_part(cluster: LocalCluster, key: str, value: object) -> tuple[int, int]:
    """A part writing ``key`` prepared on the participant, and its coordinator's id.

    The coordinator's transaction is left open, so the part waits for its word.
    """
    coordinator, participant = _roles(cluster)
    deciding = _begin(coordinator.url)
    part = _begin(participant.url)
    assert _put(participant.url, key, value, part) == 201
    assert _prepare(participant.url, part, [coordinator.shard_id, deciding]).is_success
    return deciding, part


def _record_decision(node: NodeProcess, ident: int, parts: dict[str, int]) -> None:
    """Writes a commit decision into a running node's storage, as its commit would."""
    store = Storage(node.data_dir / "lmdb")
    try:
        record = orjson.dumps({"participants": parts})
        store.write([Put("decisions", f"{ident:020d}".encode(), record)])
    finally:
        store.close()


def _wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_prepared_part_holds_its_keys_across_a_crash_until_told(
    pair: LocalCluster,
) -> None:
    coordinator, participant = _roles(pair)
    key = _owned_key(pair, participant)
    assert _put(participant.url, key, {"v": "before"}) == 201
    deciding = _begin(coordinator.url)
    part = _begin(participant.url)
    assert _put(participant.url, key, {"v": "prepared"}, part) == 201
    prepared = _prepare(participant.url, part, [coordinator.shard_id, deciding])
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["status"] == "prepared"

    # Held: other writers get a 409; readers see the committed value.
    assert _put(participant.url, key, {"v": "other"}) == 409
    refused = httpx.put(
        f"{participant.url}/entities/{key}",
        json={"blob": "{}"},
        headers={"X-Transaction-Id": str(part)},
    )
    assert refused.status_code == 409
    assert "is prepared" in refused.json()["message"]
    assert _get(participant.url, key) == {"v": "before"}

    listed = httpx.get(f"{participant.url}/transaction/prepared").json()["prepared"]
    assert [(p["transaction_id"], p["coordinator"], p["writes"]) for p in listed] == [
        (part, [coordinator.shard_id, deciding], 1)
    ]

    participant.kill()
    participant.start()
    assert _prepared_count(participant.url) == 1
    assert _put(participant.url, key, {"v": "other"}) == 409

    # The coordinator's transaction ends without a commit record: the part asks,
    # hears that it rolled back, and lets go of the key.
    httpx.post(
        f"{coordinator.url}/transaction/rollback", json={"transaction_id": deciding}
    )
    _wait_until(lambda: _prepared_count(participant.url) == 0)
    assert _prepared_count(participant.url) == 0
    assert _get(participant.url, key) == {"v": "before"}
    assert _put(participant.url, key, {"v": "after"}) == 201


def test_a_recorded_commit_reaches_a_prepared_part_and_is_then_forgotten(
    pair: LocalCluster,
) -> None:
    coordinator, participant = _roles(pair)
    key = _owned_key(pair, participant)
    deciding, part = _prepared_part(pair, key, {"v": "committed"})

    # As if the coordinator had committed and then missed telling the shard.
    _record_decision(coordinator, deciding, {str(participant.shard_id): part})

    _wait_until(lambda: _get(participant.url, key) is not None)
    assert _get(participant.url, key) == {"v": "committed"}
    assert _prepared_count(participant.url) == 0

    def forgotten() -> bool:
        answer = httpx.get(
            f"{coordinator.url}/transaction/outcome",
            params={"transaction_id": deciding},
        )
        return bool(answer.json()["status"] != "committed")

    httpx.post(
        f"{coordinator.url}/transaction/rollback", json={"transaction_id": deciding}
    )
    _wait_until(forgotten)
    assert forgotten()


def test_outcome_and_prepare_refuse_bad_input(pair: LocalCluster) -> None:
    coordinator, participant = _roles(pair)
    missing = httpx.get(f"{coordinator.url}/transaction/outcome")
    assert missing.status_code == 400
    assert "transaction_id" in missing.json()["message"]
    unknown = httpx.get(
        f"{coordinator.url}/transaction/outcome", params={"transaction_id": 7}
    )
    assert unknown.json() == {"transaction_id": 7, "status": "rolled_back"}
    part = _begin(participant.url)
    for bad in (None, "c", ["c"], ["", 1], ["c", -1], [1, 2], ["nowhere", 1]):
        answer = _prepare(participant.url, part, bad)  # type: ignore[arg-type]
        assert answer.status_code == 400, bad
        assert (
            "coordinator" in answer.json()["message"]
            or "transaction id" in (answer.json()["message"])
        )
    # A refused prepare leaves the transaction as it was.
    assert _prepare(participant.url, part, [coordinator.shard_id, 1]).is_success
    httpx.post(f"{participant.url}/transaction/rollback", json={"transaction_id": part})
    assert _prepared_count(participant.url) == 0


def test_a_prepared_part_holds_the_unique_values_it_writes(pair: LocalCluster) -> None:
    coordinator, participant = _roles(pair)
    created = httpx.post(
        f"{participant.url}/index/create",
        json={"table": "prepared", "column": "email", "unique": True},
    )
    assert created.is_success, created.text
    first, second = _owned_key(pair, participant), _owned_key(pair, participant)
    deciding = _begin(coordinator.url)
    part = _begin(participant.url)
    assert _put(participant.url, first, {"email": "x@example.org"}, part) == 201
    assert _prepare(participant.url, part, [coordinator.shard_id, deciding]).is_success

    taken = httpx.put(
        f"{participant.url}/entities/{second}",
        json={"blob": '{"email": "x@example.org"}'},
    )
    assert taken.status_code == 409
    assert f"once prepared transaction {part} commits" in taken.json()["message"]

    httpx.post(
        f"{coordinator.url}/transaction/rollback", json={"transaction_id": deciding}
    )
    _wait_until(lambda: _prepared_count(participant.url) == 0)
    assert _put(participant.url, second, {"email": "x@example.org"}) == 201
    assert _get(participant.url, first) is None


def test_a_part_that_was_down_commits_once_it_is_back(pair: LocalCluster) -> None:
    coordinator, participant = _roles(pair)
    key = _owned_key(pair, participant)
    deciding, part = _prepared_part(pair, key, {"v": "committed"})
    participant.kill()

    # The coordinator decides while the part's shard is down, and cannot tell it.
    _record_decision(coordinator, deciding, {str(participant.shard_id): part})
    httpx.post(
        f"{coordinator.url}/transaction/rollback", json={"transaction_id": deciding}
    )
    time.sleep(3)  # longer than RESOLVE_AFTER: the coordinator has tried and failed
    outcome = httpx.get(
        f"{coordinator.url}/transaction/outcome", params={"transaction_id": deciding}
    )
    assert outcome.json()["status"] == "committed"

    participant.start()
    _wait_until(lambda: _get(participant.url, key) is not None)
    assert _get(participant.url, key) == {"v": "committed"}
    assert _prepared_count(participant.url) == 0
