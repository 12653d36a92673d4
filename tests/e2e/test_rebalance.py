"""Adding and removing shards moves the documents whose owner changes."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from themis import ThemisClient, _json, _routing
from themis.cli import app
from themis.server import rebalance_driver
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster, NodeProcess

LOCAL = {PEER_HEADER: "test"}
PEOPLE = 400
PREFIX = "relational.default.people:"
PATH = f"FOR v IN 1..40 OUTBOUND '{PREFIX}p0000' knows RETURN v._key"
runner = CliRunner()


@dataclass
class Grown:
    """Two shards with data, and a third node started beside them."""

    cluster: LocalCluster
    extra: NodeProcess
    people: dict[str, dict[str, Any]]
    vectors: list[list[float]]

    @property
    def nodes(self) -> list[NodeProcess]:
        return [*self.cluster.nodes, self.extra]

    def rebalance(self, *args: str) -> Any:
        source = str(self.cluster.topology_path)
        return runner.invoke(app, ["cluster", "rebalance", "--topology", source, *args])


@pytest.fixture
def grown(tmp_path: Path) -> Iterator[Grown]:
    rng = random.Random(5)
    people = {
        f"p{i:04}": {"age": rng.randrange(90), "name": f"person {i}"}
        for i in range(PEOPLE)
    }
    vectors = [[rng.random() for _ in range(4)] for _ in range(60)]
    with LocalCluster(tmp_path, shards=2) as cluster:
        extra = NodeProcess(
            tmp_path / "shard-3",
            shard_id="shard-3",
            topology=str(cluster.topology_path),
        )
        with extra, ThemisClient(cluster.urls) as client:
            created = httpx.post(
                f"{cluster.urls[0]}/index/create",
                json={"table": "people", "column": "age", "type": "range"},
            )
            assert created.status_code == 200, created.text
            assert not client.batch_put("relational", "people", people).failed
            for i in range(30):
                client.add_edge(
                    f"{PREFIX}p{i:04}", f"{PREFIX}p{i + 1:04}", collection="knows"
                )
            items = [{"pk": f"v{i}", "vector": v} for i, v in enumerate(vectors)]
            assert client.vector_insert(items, collection="points")["inserted"] == 60
            yield Grown(cluster, extra, people, vectors)


def _held(node: NodeProcess) -> set[str]:
    """The wire keys of the documents a node holds itself."""
    answer = httpx.post(
        f"{node.url}/query/aql",
        json={"query": "FOR p IN people RETURN p._id", "scope": "local"},
        headers=LOCAL,
    )
    assert answer.status_code == 200, answer.text
    return set(answer.json()["entities"])


def _said(result: Result) -> str:
    """What a CLI command printed, with the terminal's line breaks undone."""
    return " ".join(result.output.split())


def _query(url: str, text: str) -> list[Any]:
    answer = httpx.post(f"{url}/query/aql", json={"query": text})
    assert answer.status_code == 200, answer.text
    entities: list[Any] = answer.json()["entities"]
    return entities


def test_adding_a_shard_moves_its_slots_and_keeps_every_answer(grown: Grown) -> None:
    urls = grown.cluster.urls
    before_ages = _query(urls[0], "FOR p IN people FILTER p.age >= 80 RETURN p._key")
    before_path = _query(urls[0], PATH)
    with ThemisClient(urls) as stale:
        assert stale.topology().version == 1
        query = grown.vectors[7]
        before_hits = stale.vector_search(query, 5, collection="points")

        done = grown.rebalance("--add", f"shard-3={grown.extra.url}")
        assert done.exit_code == 0, done.output
        assert "topology version 2 published" in _said(done)
        bar = re.search(r"moving documents.*?(\d+)/(\d+)", done.output)
        assert bar is not None, done.output
        assert bar[1] == bar[2] and int(bar[1]) > PEOPLE // 5

        ids = ["shard-1", "shard-2", "shard-3"]
        held = {str(node.shard_id): _held(node) for node in grown.nodes}
        wire = {PREFIX + pk for pk in grown.people}
        assert set().union(*held.values()) == wire
        assert sum(map(len, held.values())) == PEOPLE
        for shard_id, keys in held.items():
            owners = {_routing.owner(ids, _routing.routing_key(k)) for k in keys}
            assert owners == {shard_id}
        assert len(held["shard-3"]) > PEOPLE // 5

        # A client still routing by version 1 reads every key right, and learns
        # the new version from the answers.
        found = stale.batch_get("relational", "people", list(grown.people))
        assert found.found == grown.people
        assert stale.get("relational", "people", "p0001") == grown.people["p0001"]
        stale.get("relational", "people", "p0002")
        assert stale.topology().version == 2
        assert stale.vector_search(query, 5, collection="points") == before_hits

    topology = _json.loads(grown.cluster.topology_path.read_bytes())
    assert [s["id"] for s in topology["shards"]] == ids
    for node in grown.nodes:
        served = httpx.get(f"{node.url}/_admin/cluster/topology").json()
        assert served == topology
        indexes = httpx.get(f"{node.url}/index/list", params={"table": "people"})
        assert [i["field"] for i in indexes.json()["indexes"]] == ["age"]
    new = grown.extra.url
    assert (
        _query(new, "FOR p IN people FILTER p.age >= 80 RETURN p._key") == before_ages
    )
    count = _query(new, "FOR p IN people COLLECT WITH COUNT INTO n RETURN n")
    assert count == [PEOPLE]
    path = _query(new, PATH)
    assert path == before_path and len(path) == 30
    with ThemisClient([new]) as client:
        assert client.batch_get("relational", "people", list(grown.people)).found == (
            grown.people
        )


def _moves(result: Result) -> dict[str, int]:
    """The "from -> to | documents" rows a rebalance printed."""
    rows = re.findall(r"(shard-\d -> shard-\d)\W+(\d+)", result.output)
    return {route: int(count) for route, count in rows}


def test_a_dry_run_shows_what_would_move_and_changes_nothing(grown: Grown) -> None:
    held = {node.shard_id: _held(node) for node in grown.cluster.nodes}
    dry = grown.rebalance("--add", f"shard-3={grown.extra.url}", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing moved; version 2 not published" in _said(dry)
    assert _json.loads(grown.cluster.topology_path.read_bytes())["version"] == 1
    for node in grown.nodes:
        assert "rebalancing_to" not in httpx.get(f"{node.url}/health").json()
    assert {node.shard_id: _held(node) for node in grown.cluster.nodes} == held
    foreseen = _moves(dry)
    assert set(foreseen) == {"shard-1 -> shard-3", "shard-2 -> shard-3"}

    done = grown.rebalance("--add", f"shard-3={grown.extra.url}")
    assert done.exit_code == 0, done.output
    assert _moves(done) == foreseen
    assert all(foreseen.values())


def test_removing_a_shard_empties_it_and_an_abort_goes_back(grown: Grown) -> None:
    assert grown.rebalance("--add", f"shard-3={grown.extra.url}").exit_code == 0
    assert _held(grown.extra)

    done = grown.rebalance("--remove", "shard-3")
    assert done.exit_code == 0, done.output
    assert _held(grown.extra) == set()
    with ThemisClient(grown.cluster.urls) as client:
        found = client.batch_get("relational", "people", list(grown.people))
        assert found.found == grown.people
        assert client.topology().version == 3

    # Begun by hand and then aborted: nothing moves for good.
    target = {
        "version": 4,
        "shards": [
            *_json.loads(grown.cluster.topology_path.read_bytes())["shards"],
            {"id": "shard-3", "http_endpoint": grown.extra.url},
        ],
    }
    for node in grown.nodes:
        begun = httpx.post(
            f"{node.url}/_internal/rebalance/begin", json={"topology": target}
        )
        assert begun.status_code == 200, begun.text
    moved = httpx.post(f"{grown.cluster.urls[0]}/_internal/rebalance/move", json={})
    assert moved.json()["moved"] > 0
    refused = grown.rebalance("--add", "shard-9=http://127.0.0.1:1")
    assert refused.exit_code == 1
    assert "under way" in _said(refused)
    aborted = grown.rebalance("--abort")
    assert aborted.exit_code == 0, aborted.output
    assert _held(grown.extra) == set()
    with ThemisClient(grown.cluster.urls) as client:
        assert client.topology().version == 3
        found = client.batch_get("relational", "people", list(grown.people))
        assert found.found == grown.people


def test_data_requests_wait_while_documents_move(grown: Grown) -> None:
    target: dict[str, Any] = {
        "version": 2,
        "shards": [
            *_json.loads(grown.cluster.topology_path.read_bytes())["shards"],
            {"id": "shard-3", "http_endpoint": grown.extra.url},
        ],
    }
    url = grown.cluster.urls[0]
    begun = httpx.post(f"{url}/_internal/rebalance/begin", json={"topology": target})
    assert begun.status_code == 200, begun.text
    key = f"{url}/entities/{PREFIX}p0001"
    refused = httpx.put(key, json={"blob": "{}"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "rebalance to topology version 2" in refused.json()["message"]
    assert httpx.post(f"{url}/query/aql", json={"query": "RETURN 1"}).status_code == 503
    health = httpx.get(f"{url}/health")
    assert health.status_code == 200
    assert health.json()["rebalancing_to"] == 2
    shown = runner.invoke(app, ["health", url, "--cluster"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("healthy, rebalancing to 2") == 1
    other = {"version": 5, "shards": target["shards"][:1]}
    clash = httpx.post(f"{url}/_internal/rebalance/begin", json={"topology": other})
    assert clash.status_code == 409
    assert "under way" in clash.json()["message"]

    # A node restarted midway stays in maintenance.
    node = grown.cluster.nodes[0]
    node.stop()
    node.start()
    assert httpx.delete(key).status_code == 503
    assert httpx.get(key).status_code == 200

    finished = grown.rebalance()
    assert finished.exit_code == 0, finished.output
    assert "resuming the rebalance to version 2" in _said(finished)
    with ThemisClient(grown.cluster.urls) as client:
        assert client.batch_get("relational", "people", list(grown.people)).found == (
            grown.people
        )


def test_a_topology_that_cannot_be_published_stops_the_rebalance_until_rerun(
    grown: Grown, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwritable(source: str, topology: dict[str, Any]) -> None:
        raise PermissionError(13, "Permission denied", source)

    with monkeypatch.context() as patched:
        patched.setattr(rebalance_driver, "publish", unwritable)
        stopped = grown.rebalance("--add", f"shard-3={grown.extra.url}")
    assert stopped.exit_code == 1
    assert "rebalance stopped: [Errno 13] Permission denied" in _said(stopped)
    url = grown.cluster.urls[0]
    assert httpx.get(f"{url}/health").json()["rebalancing_to"] == 2
    finished = grown.rebalance()
    assert finished.exit_code == 0, finished.output
    assert "topology version 2 published" in _said(finished)


def test_a_rebalance_waits_for_open_transactions(grown: Grown) -> None:
    with ThemisClient(grown.cluster.urls) as client:
        txn = client.begin_transaction()
        txn.put("relational", "people", "p0001", {"age": 1})
        refused = grown.rebalance("--add", f"shard-3={grown.extra.url}")
        assert refused.exit_code == 1
        assert "transactions are open or prepared" in _said(refused)
        txn.rollback()
    done = grown.rebalance("--add", f"shard-3={grown.extra.url}")
    assert done.exit_code == 0, done.output


def test_bad_rebalance_requests_are_refused(grown: Grown) -> None:
    url = grown.cluster.urls[0]
    bodies: list[dict[str, Any]] = [
        {},
        {"topology": {"shards": []}},
        {"topology": {"shards": ["x"]}},
    ]
    for step in ("begin", "preview"):
        for body in bodies:
            answer = httpx.post(f"{url}/_internal/rebalance/{step}", json=body)
            assert answer.status_code == 400, answer.text
            assert "expected" in answer.json()["message"]
    for step in ("move", "receive", "define"):
        answer = httpx.post(f"{url}/_internal/rebalance/{step}", json={})
        assert answer.status_code == 409
        assert "not rebalancing" in answer.json()["message"]
    assert grown.rebalance().exit_code == 1
    assert grown.rebalance("--add", "bad").exit_code == 2
    assert grown.rebalance("--remove", "shard-9").exit_code == 1


def test_a_lost_shard_is_dropped_and_its_keys_start_empty_elsewhere(
    grown: Grown,
) -> None:
    assert grown.rebalance("--add", f"shard-3={grown.extra.url}").exit_code == 0
    on_lost = {
        pk
        for pk in grown.people
        if _routing.owner(
            ["shard-1", "shard-2", "shard-3"], _routing.routing_key(PREFIX + pk)
        )
        == "shard-3"
    }
    assert on_lost
    answering = grown.rebalance("--lost", "shard-3")
    assert answering.exit_code == 1
    assert "answers at" in _said(answering)
    assert grown.rebalance("--lost", "shard-9").exit_code == 1

    grown.extra.kill()
    dropped = grown.rebalance("--lost", "shard-3")
    assert dropped.exit_code == 0, dropped.output
    assert "topology version 3 published" in _said(dropped)
    published = _json.loads(grown.cluster.topology_path.read_bytes())
    assert [s["id"] for s in published["shards"]] == ["shard-1", "shard-2"]
    with ThemisClient(grown.cluster.urls) as client:
        read = client.batch_get("relational", "people", list(grown.people))
        assert set(read.missing) == on_lost
        assert not read.errors
        assert read.found == {
            pk: doc for pk, doc in grown.people.items() if pk not in on_lost
        }
        lost_pk = min(on_lost)
        client.put("relational", "people", lost_pk, {"age": 1, "name": "again"})
        assert client.get("relational", "people", lost_pk)["name"] == "again"
    held = set().union(*(_held(node) for node in grown.cluster.nodes))
    assert held == {PREFIX + pk for pk in grown.people if pk not in on_lost} | {
        PREFIX + lost_pk
    }


def test_a_grown_cluster_restarts_with_its_new_shards(grown: Grown) -> None:
    assert grown.rebalance("--add", f"shard-3={grown.extra.url}").exit_code == 0
    root = grown.cluster.root
    refused = runner.invoke(
        app, ["cluster", "up", "--shards", "2", "--data", str(root)]
    )
    assert refused.exit_code == 2
    assert "has shards ['shard-1', 'shard-2', 'shard-3']" in _said(refused)
    grown.extra.stop()
    grown.cluster.stop()

    with LocalCluster(root, shards=3) as restarted:
        assert restarted.version == 3
        with ThemisClient(restarted.urls) as client:
            found = client.batch_get("relational", "people", list(grown.people))
            assert found.found == grown.people
        held = {str(node.shard_id): _held(node) for node in restarted.nodes}
        assert sum(map(len, held.values())) == PEOPLE
        assert all(held.values())


def test_a_unique_value_on_two_shards_stops_the_move_and_says_why(
    grown: Grown,
) -> None:
    url = grown.cluster.urls[0]
    body = {"table": "users", "column": "email", "type": "equality", "unique": True}
    assert httpx.post(f"{url}/index/create", json=body).status_code == 200
    ids = ["shard-1", "shard-2"]
    pks: dict[str, str] = {}
    for i in range(100):
        owner = _routing.owner(ids, _routing.routing_key(f"{PREFIX[:-7]}users:u{i}"))
        pks.setdefault(owner, f"u{i}")
    with ThemisClient(grown.cluster.urls) as client:
        for pk in pks.values():
            client.put("relational", "users", pk, {"email": "same@example.org"})

        stopped = grown.rebalance("--remove", "shard-2")
        assert stopped.exit_code == 1
        said = _said(stopped)
        assert "rebalance stopped: shard 'shard-2' refused" in said
        assert "unique index on 'email' of 'users' already holds this value" in said

        assert grown.rebalance("--abort").exit_code == 0
        for pk in pks.values():
            assert client.get("relational", "users", pk) == {
                "email": "same@example.org"
            }
        found = client.batch_get("relational", "people", list(grown.people))
        assert found.found == grown.people


def test_bad_steps_during_a_rebalance_are_refused(grown: Grown) -> None:
    url = grown.cluster.urls[0]
    target = grown.cluster.topology(version=2)
    begun = httpx.post(f"{url}/_internal/rebalance/begin", json={"topology": target})
    assert begun.status_code == 200, begun.text
    owners = {
        _routing.owner(["shard-1", "shard-2"], _routing.routing_key(PREFIX + pk)): (
            PREFIX + pk
        )
        for pk in grown.people
    }
    own, foreign = owners["shard-1"], owners["shard-2"]
    bodies: list[tuple[str, Any, str]] = [
        ("receive", {"documents": "no"}, "expected 'documents'"),
        ("receive", {"documents": [["k", 1]]}, "pair of strings"),
        ("receive", {"documents": [[foreign, "{}"]]}, "belongs to shard 'shard-2'"),
        ("receive", {"documents": [["../x", "{}"]]}, ""),
        ("define", {"graphs": [{"edge_definitions": []}]}, "named graph definition"),
        ("define", {"indexes": [{"field": "a"}]}, "as shards list them"),
        ("define", {"vectors": "no"}, "'vectors' to be a list"),
        ("define", {"vectors": [5]}, "expected a definition object"),
        ("define", {"vectors": [{"collection": "v"}]}, "dimension"),
        ("receive", {"documents": [[own, "[1]"]]}, "to hold a JSON object"),
    ]
    for step, body, said in bodies:
        answer = httpx.post(f"{url}/_internal/rebalance/{step}", json=body)
        assert answer.status_code == 400, (step, body, answer.text)
        assert said in answer.json()["message"]
    stray = httpx.post(
        f"{grown.cluster.urls[1]}/_internal/rebalance/end", json={"topology": target}
    )
    assert stray.status_code == 409
    assert "not rebalancing" in stray.json()["message"]


def test_keys_stay_readable_while_documents_move(grown: Grown) -> None:
    target = {
        "version": 2,
        "shards": [
            *grown.cluster.topology()["shards"],  # type: ignore[misc]
            {"id": "shard-3", "http_endpoint": grown.extra.url},
        ],
    }
    for node in grown.nodes:
        url = f"{node.url}/_internal/rebalance/begin"
        assert httpx.post(url, json={"topology": target}).status_code == 200
    # Only shard-1 has moved its documents yet; shard-2 still holds all of its own.
    first = grown.cluster.urls[0]
    assert httpx.post(f"{first}/_internal/rebalance/move", json={}).json()["moved"]
    new_ids = ["shard-1", "shard-2", "shard-3"]
    waiting = next(
        pk
        for pk in grown.people
        if _routing.owner(new_ids, _routing.routing_key(PREFIX + pk)) == "shard-3"
        and _routing.owner(new_ids[:2], _routing.routing_key(PREFIX + pk)) == "shard-2"
    )
    assert PREFIX + waiting in _held_raw(grown.cluster.nodes[1])

    with ThemisClient(grown.cluster.urls) as client:
        found = client.batch_get("relational", "people", [*grown.people, "nobody"])
        assert found.found == grown.people
        assert found.missing == ["nobody"]
        for pk in list(grown.people)[:20]:
            assert client.get("relational", "people", pk) == grown.people[pk]
    on_new = httpx.get(f"{grown.extra.url}/entities/{PREFIX}{waiting}")
    assert on_new.status_code == 200
    assert _json.loads(on_new.json()["blob"]) == grown.people[waiting]
    assert httpx.get(f"{grown.extra.url}/entities/{PREFIX}nobody").status_code == 404

    finished = grown.rebalance()
    assert finished.exit_code == 0, finished.output
    assert PREFIX + waiting in _held_raw(grown.extra)


def _held_raw(node: NodeProcess) -> set[str]:
    """What a node holds itself, read with a batch (which stays up meanwhile)."""
    keys = [PREFIX + pk for pk in (f"p{i:04}" for i in range(PEOPLE))]
    answer = httpx.post(f"{node.url}/batch/get", json={"keys": keys}, headers=LOCAL)
    assert answer.status_code == 200, answer.text
    return set(answer.json()["found"])
