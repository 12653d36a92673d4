"""How `themis cluster rebalance` works out its target and the nodes it asks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from themis import _json
from themis.server.rebalance_driver import RebalanceError, plan

SHARDS = [
    {"id": f"shard-{n}", "http_endpoint": f"http://127.0.0.{n}:8765"} for n in (1, 2, 3)
]
CURRENT = {"version": 4, "shards": SHARDS}


def _cluster(
    *, dead: frozenset[str] = frozenset(), target: dict[str, Any] | None = None
) -> httpx.Client:
    """Nodes 127.0.0.N answer unless shard-N is dead; each reports ``target``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if f"shard-{request.url.host.rsplit('.', 1)[1]}" in dead:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "healthy"})
        assert request.url.path == "/_internal/rebalance"
        return httpx.Response(200, content=_json.dumps({"target": target}))

    return httpx.Client(transport=httpx.MockTransport(answer))


def _ids(nodes: list[tuple[str, str]]) -> list[str]:
    return [shard_id for shard_id, _ in nodes]


def test_a_lost_shard_leaves_the_target_and_is_not_asked() -> None:
    with _cluster(dead=frozenset({"shard-2"})) as http:
        made = plan(CURRENT, [], [], abort=False, http=http, lost=["shard-2"])
    assert _ids(made.nodes) == ["shard-1", "shard-3"]
    assert made.target["version"] == 5
    assert [shard["id"] for shard in made.target["shards"]] == ["shard-1", "shard-3"]


def test_a_lost_shard_can_be_replaced_by_a_new_one() -> None:
    added = [("shard-4", "http://127.0.0.4:8765")]
    with _cluster(dead=frozenset({"shard-2"})) as http:
        made = plan(CURRENT, added, [], abort=False, http=http, lost=["shard-2"])
    assert _ids(made.nodes) == ["shard-1", "shard-3", "shard-4"]


@pytest.mark.parametrize(
    ("lost", "said"),
    [
        (["shard-2"], "answers at http://127.0.0.2:8765"),
        (["shard-9"], "'shard-9' is not in the topology"),
    ],
)
def test_a_shard_named_lost_must_be_known_and_silent(
    lost: list[str], said: str
) -> None:
    with _cluster() as http, pytest.raises(RebalanceError, match=said):
        plan(CURRENT, [], [], abort=False, http=http, lost=lost)


def test_a_rebalance_that_drops_a_lost_shard_is_finished_by_naming_it_again() -> None:
    target = {**CURRENT, "version": 5, "shards": SHARDS[:2]}
    with _cluster(dead=frozenset({"shard-3"}), target=target) as http:
        made = plan(CURRENT, [], [], abort=False, http=http, lost=["shard-3"])
        assert made.resumed and made.target == target
        assert _ids(made.nodes) == ["shard-1", "shard-2"]
        aborted = plan(CURRENT, [], [], abort=True, http=http, lost=["shard-3"])
        assert aborted.replace and aborted.target == CURRENT
        assert _ids(aborted.nodes) == ["shard-1", "shard-2"]


def test_a_shard_the_rebalance_under_way_keeps_cannot_be_given_up() -> None:
    target = {**CURRENT, "version": 5, "shards": SHARDS[1:]}
    with (
        _cluster(dead=frozenset({"shard-3"}), target=target) as http,
        pytest.raises(RebalanceError, match="is under way"),
    ):
        plan(CURRENT, [], [], abort=False, http=http, lost=["shard-3"])


def test_a_silent_shard_not_named_lost_stops_the_plan_with_a_hint() -> None:
    with (
        _cluster(dead=frozenset({"shard-2"})) as http,
        pytest.raises(RebalanceError, match=r"did not answer.*name it with --lost"),
    ):
        plan(CURRENT, [], ["shard-3"], abort=False, http=http)
