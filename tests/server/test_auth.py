"""Bearer tokens with scopes on a node and on a cluster."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from themis import ThemisClient
from themis.server.auth import required_scope
from themis.server.launcher import LocalCluster, NodeProcess

READER, WRITER, OPS, PEERS = (
    "reader-secret",
    "writer-secret",
    "ops-secret",
    "peer-secret",
)


def _tokens_file(path: Path) -> Path:
    tokens = [
        {"name": "reader", "token": READER, "scopes": ["data:read"]},
        {
            "name": "writer",
            "sha256": hashlib.sha256(WRITER.encode()).hexdigest(),
            "scopes": ["data:read", "data:write"],
        },
        {"name": "ops", "token": OPS, "scopes": ["metrics:read", "admin"]},
        {"name": "nodes", "token": PEERS, "scopes": ["cluster"]},
    ]
    path.write_text(json.dumps({"tokens": tokens}))
    return path


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("auth")
    tokens = _tokens_file(root / "tokens.json")
    with NodeProcess(root / "data", extra_args=["--tokens", str(tokens)]) as node:
        yield node


def test_health_is_public(secured: NodeProcess) -> None:
    assert httpx.get(f"{secured.url}/health").status_code == 200


def test_missing_and_unknown_tokens_are_401(secured: NodeProcess) -> None:
    missing = httpx.get(f"{secured.url}/entities/users:a")
    unknown = httpx.get(f"{secured.url}/entities/users:a", headers=_bearer("nope"))

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="themis"'
    assert missing.json() == {
        "error": True,
        "message": "this node requires 'Authorization: Bearer <token>'; none was sent",
        "status_code": 401,
    }
    assert unknown.json()["message"] == "the bearer token is not known to this node"


def test_scopes_decide_what_a_token_may_do(secured: NodeProcess) -> None:
    body = {"blob": '{"v": 1}'}
    url = f"{secured.url}/entities/users:scoped"

    denied = httpx.put(url, json=body, headers=_bearer(READER))
    written = httpx.put(url, json=body, headers=_bearer(WRITER))
    read = httpx.get(url, headers=_bearer(READER))

    assert denied.status_code == 403
    assert denied.json()["message"] == (
        "token 'reader' lacks scope 'data:write'; it has ['data:read']"
    )
    assert written.status_code == 201
    assert read.json()["blob"] == '{"v": 1}'


def test_metrics_and_admin_need_their_scopes(secured: NodeProcess) -> None:
    assert (
        httpx.get(f"{secured.url}/metrics", headers=_bearer(READER)).status_code == 403
    )
    assert httpx.get(f"{secured.url}/metrics", headers=_bearer(OPS)).status_code == 200
    index = {"table": "users", "column": "age", "type": "range"}
    create = f"{secured.url}/index/create"
    assert httpx.post(create, json=index, headers=_bearer(WRITER)).status_code == 403
    assert httpx.post(create, json=index, headers=_bearer(OPS)).status_code == 200


def test_sdk_sends_its_token(secured: NodeProcess) -> None:
    with ThemisClient([secured.url], token=WRITER, namespace="auth") as client:
        client.put("relational", "users", "1", {"name": "Ann"})
        assert client.get("relational", "users", "1") == {"name": "Ann"}
        assert client.query("FOR u IN users RETURN u.name").items == ["Ann"]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/health", None),
        ("GET", "/entities/users:a", "data:read"),
        ("POST", "/batch/get", "data:read"),
        ("POST", "/batch/put", "data:write"),
        ("POST", "/query/aql", "data:read"),
        ("POST", "/graph/traverse", "data:read"),
        ("POST", "/graph", "admin"),
        ("POST", "/graph/edge", "data:write"),
        ("POST", "/vector/search", "data:read"),
        ("POST", "/vector/index", "admin"),
        ("POST", "/transaction/begin", "data:write"),
        ("POST", "/transaction/prepare", "cluster"),
        ("GET", "/transaction/outcome", "cluster"),
        ("GET", "/transaction/prepared", "cluster"),
        ("GET", "/_internal/collections", "cluster"),
        ("POST", "/_internal/vector/define", "cluster"),
        ("GET", "/_admin/cluster/topology", "data:read"),
    ],
)
def test_route_scopes(method: str, path: str, scope: str | None) -> None:
    assert required_scope(method, path) == scope


def test_cluster_nodes_authenticate_to_each_other(tmp_path: Path) -> None:
    tokens = _tokens_file(tmp_path / "tokens.json")
    args = ["--tokens", str(tokens)]
    with LocalCluster(tmp_path / "c", shards=3, node_args=args) as cluster:
        docs = {str(i): {"i": i} for i in range(30)}
        with ThemisClient(cluster.urls[:1], token=WRITER) as writer:
            assert writer.batch_put("relational", "items", docs).failed == {}
            # A transaction over every shard: its node opens, prepares and
            # commits its parts on the others with the cluster's own token.
            with writer.begin_transaction() as txn:
                for uuid in docs:
                    txn.put("relational", "items", uuid, {"i": -int(uuid)})
            # The shards agree on the new vector index through its home shard.
            vectors = [{"pk": f"v{i}", "vector": [1.0, float(i)]} for i in range(30)]
            assert writer.vector_insert(vectors)["inserted"] == 30
        with ThemisClient(cluster.urls[:1], token=READER) as reader:
            rows = reader.query("FOR d IN items SORT d.i RETURN d.i").items
            hits = reader.vector_search([1.0, 0.0], top_k=1)
    assert rows == sorted(-i for i in range(30))
    assert isinstance(hits, list) and hits[0]["pk"] == "v0"


def test_only_nodes_prepare_and_end_prepared_parts(secured: NodeProcess) -> None:
    url = secured.url
    topology = httpx.get(f"{url}/_admin/cluster/topology", headers=_bearer(READER))
    shard_id = topology.json()["shards"][0]["id"]

    def begin() -> int:
        answer = httpx.post(f"{url}/transaction/begin", headers=_bearer(WRITER))
        ident: int = answer.json()["transaction_id"]
        return ident

    # An open transaction as coordinator keeps the part waiting for its word.
    coordinator, part = begin(), begin()
    httpx.put(
        f"{url}/entities/users:held",
        json={"blob": "{}"},
        headers={**_bearer(WRITER), "X-Transaction-Id": str(part)},
    )
    body = {"transaction_id": part, "coordinator": [shard_id, coordinator]}
    refused = httpx.post(
        f"{url}/transaction/prepare", json=body, headers=_bearer(WRITER)
    )
    assert refused.status_code == 403
    prepared = httpx.post(
        f"{url}/transaction/prepare", json=body, headers=_bearer(PEERS)
    )
    assert prepared.json()["status"] == "prepared"

    ident = {"transaction_id": part}
    for action in ("commit", "rollback"):
        answer = httpx.post(
            f"{url}/transaction/{action}", json=ident, headers=_bearer(WRITER)
        )
        assert answer.status_code == 403
        assert "takes the 'cluster' scope" in answer.json()["message"]
    ended = httpx.post(
        f"{url}/transaction/rollback", json=ident, headers=_bearer(PEERS)
    )
    assert ended.json()["status"] == "rolled_back"
    httpx.post(
        f"{url}/transaction/rollback",
        json={"transaction_id": coordinator},
        headers=_bearer(WRITER),
    )
