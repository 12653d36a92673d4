"""Per-node network counters in ``/stats``."""

from __future__ import annotations

import httpx

from themis import ThemisClient
from themis.server.launcher import LocalCluster


def _network(url: str) -> dict[str, object]:
    network: dict[str, object] = httpx.get(f"{url}/stats").json()["network"]
    return network


def test_stats_count_bytes_per_route_and_from_peers(cluster: LocalCluster) -> None:
    with ThemisClient(cluster.urls) as client:
        docs = {f"{i:03}": {"n": i} for i in range(30)}
        assert client.batch_put("relational", "traffic", docs).failed == {}
        before = [_network(url) for url in cluster.urls]
        result = client.query("FOR d IN traffic FILTER d.n == 7 RETURN d")
        after = [_network(url) for url in cluster.urls]
    assert result.count == 1
    routes = after[0]["routes"]
    assert isinstance(routes, dict)
    assert routes["POST /batch/put"]["requests"] >= 1
    assert routes["POST /batch/put"]["bytes_received"] > 0

    def peer_bytes(stats: list[dict[str, object]]) -> int:
        total = 0
        for network in stats:
            peers = network["from_peers"]
            assert isinstance(peers, dict)
            total += peers["bytes_received"] + peers["bytes_sent"]
        return total

    moved = peer_bytes(after) - peer_bytes(before)
    # Two shards each answer their filtered part: bytes of at most one document and
    # the query text, not of the collection.
    assert 0 < moved < 4000
    assert all(isinstance(n["bytes_sent"], int) and n["bytes_sent"] > 0 for n in after)
