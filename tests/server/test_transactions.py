"""Transactions over HTTP: own writes, isolation, conflicts, atomic commit."""

from __future__ import annotations

import uuid

import httpx
import pytest

from themis import ConflictError, ThemisClient
from themis.server.launcher import NodeProcess


def _begin(http: httpx.Client, isolation: str = "read_committed") -> dict[str, str]:
    body = http.post("/transaction/begin", json={"isolation": isolation}).json()
    assert body["status"] == "active"
    assert isinstance(body["transaction_id"], int)
    return {"X-Transaction-Id": str(body["transaction_id"])}


def _commit(http: httpx.Client, header: dict[str, str]) -> httpx.Response:
    ident = int(header["X-Transaction-Id"])
    return http.post("/transaction/commit", json={"transaction_id": ident})


def _key() -> str:
    return f"accounts:{uuid.uuid4().hex}"


def test_writes_are_private_until_commit(http: httpx.Client) -> None:
    key = _key()
    txn = _begin(http)

    assert (
        http.put(f"/entities/{key}", json={"blob": '{"v": 1}'}, headers=txn).status_code
        == 201
    )
    assert http.get(f"/entities/{key}", headers=txn).json()["blob"] == '{"v": 1}'
    assert http.get(f"/entities/{key}").status_code == 404

    committed = _commit(http, txn).json()
    assert committed["status"] == "committed"
    assert http.get(f"/entities/{key}").json()["blob"] == '{"v": 1}'


def test_rollback_discards_writes(http: httpx.Client) -> None:
    key = _key()
    txn = _begin(http)
    http.put(f"/entities/{key}", json={"blob": "{}"}, headers=txn)

    ident = int(txn["X-Transaction-Id"])
    body = http.post("/transaction/rollback", json={"transaction_id": ident}).json()

    assert body["status"] == "rolled_back"
    assert http.get(f"/entities/{key}").status_code == 404
    assert http.get(f"/entities/{key}", headers=txn).status_code == 404


def test_second_writer_of_a_key_gets_409(http: httpx.Client) -> None:
    key = _key()
    first, second = _begin(http), _begin(http)
    http.put(f"/entities/{key}", json={"blob": '{"by": 1}'}, headers=first)
    http.put(f"/entities/{key}", json={"blob": '{"by": 2}'}, headers=second)

    assert _commit(http, first).status_code == 200
    loser = _commit(http, second)

    assert loser.status_code == 409
    assert loser.json()["message"].startswith(f"write-write conflict on {key!r}")
    assert http.get(f"/entities/{key}").json()["blob"] == '{"by": 1}'


def test_snapshot_reads_ignore_later_commits(http: httpx.Client) -> None:
    key = _key()
    http.put(f"/entities/{key}", json={"blob": '{"v": "old"}'})
    snapshot, committed = _begin(http, "snapshot"), _begin(http, "read_committed")

    http.put(f"/entities/{key}", json={"blob": '{"v": "new"}'})

    assert (
        http.get(f"/entities/{key}", headers=snapshot).json()["blob"] == '{"v": "old"}'
    )
    assert (
        http.get(f"/entities/{key}", headers=committed).json()["blob"] == '{"v": "new"}'
    )


def test_queries_see_own_writes_and_deletes(http: httpx.Client) -> None:
    collection = f"ledger{uuid.uuid4().hex[:8]}"
    http.put(f"/entities/{collection}:a", json={"blob": '{"n": 1}'})
    http.put(f"/entities/{collection}:b", json={"blob": '{"n": 2}'})
    txn = _begin(http)
    http.put(f"/entities/{collection}:c", json={"blob": '{"n": 3}'}, headers=txn)
    http.delete(f"/entities/{collection}:a", headers=txn)

    body = {"query": f"FOR d IN {collection} SORT d.n RETURN d.n"}
    inside = http.post("/query/aql", json=body, headers=txn).json()["entities"]
    outside = http.post("/query/aql", json=body).json()["entities"]

    assert inside == [2, 3]
    assert outside == [1, 2]


def test_a_new_collection_is_queryable_inside_its_transaction(
    http: httpx.Client,
) -> None:
    collection = f"fresh{uuid.uuid4().hex[:8]}"
    txn = _begin(http)
    http.put(f"/entities/{collection}:x", json={"blob": '{"n": 7}'}, headers=txn)

    body = {"query": f"FOR d IN {collection} RETURN d.n"}
    assert http.post("/query/aql", json=body, headers=txn).json()["entities"] == [7]


def test_batches_join_the_transaction(http: httpx.Client) -> None:
    first, second = _key(), _key()
    txn = _begin(http)
    items = [{"key": first, "blob": "{}"}, {"key": second, "blob": "{}"}]
    http.post("/batch/put", json={"items": items}, headers=txn)

    outside = http.post("/batch/get", json={"keys": [first, second]}).json()
    inside = http.post("/batch/get", json={"keys": [first, second]}, headers=txn).json()

    assert outside["missing"] == [first, second]
    assert sorted(inside["found"]) == sorted([first, second])


@pytest.mark.parametrize(
    ("header", "status", "message"),
    [
        (
            "12x",
            400,
            "expected a transaction id (a non-negative integer), received '12x'",
        ),
        ("1", 404, "transaction 1 not found or already completed"),
    ],
)
def test_bad_transaction_headers(
    http: httpx.Client, header: str, status: int, message: str
) -> None:
    response = http.get("/entities/users:a", headers={"X-Transaction-Id": header})
    assert response.status_code == status
    assert response.json()["message"] == message


def test_bad_isolation_and_double_commit(http: httpx.Client) -> None:
    bad = http.post("/transaction/begin", json={"isolation": "serializable"})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "expected 'isolation' to be 'read_committed' or 'snapshot', "
        "received 'serializable'"
    )
    txn = _begin(http)
    assert _commit(http, txn).status_code == 200
    again = _commit(http, txn)
    assert again.status_code == 404


def test_stats_count_outcomes(http: httpx.Client) -> None:
    before = http.get("/transaction/stats").json()
    _commit(http, _begin(http))
    after = http.get("/transaction/stats").json()
    assert after["total_begun"] == before["total_begun"] + 1
    assert after["total_committed"] == before["total_committed"] + 1


def test_sdk_transaction_commits_and_rolls_back(node: NodeProcess) -> None:
    with ThemisClient(endpoints=[node.url], namespace="txn") as client:
        with client.begin_transaction() as txn:
            txn.put("relational", "accounts", "alice", {"balance": 10})
            assert txn.get("relational", "accounts", "alice") == {"balance": 10}
            assert client.get("relational", "accounts", "alice") is None
        assert client.get("relational", "accounts", "alice") == {"balance": 10}

        with pytest.raises(RuntimeError), client.begin_transaction() as txn:
            txn.put("relational", "accounts", "bob", {"balance": 5})
            raise RuntimeError("abort")
        assert client.get("relational", "accounts", "bob") is None


def test_sdk_conflict_is_a_conflict_error(node: NodeProcess) -> None:
    with ThemisClient(endpoints=[node.url], namespace="txn") as client:
        first = client.begin_transaction()
        second = client.begin_transaction()
        first.put("relational", "accounts", "carol", {"v": 1})
        second.put("relational", "accounts", "carol", {"v": 2})
        first.commit()
        with pytest.raises(ConflictError):
            second.commit()
