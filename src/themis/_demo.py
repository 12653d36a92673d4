"""``themis demo``: a local node, sample data, and the quickstart walked through."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.pretty import Pretty

from themis import ThemisClient
from themis.server.launcher import NodeProcess

USERS = {
    "alice": {"name": "Alice", "age": 30, "city": "Berlin", "active": True},
    "bob": {"name": "Bob", "age": 25, "city": "Hamburg", "active": False},
    "carol": {"name": "Carol", "age": 35, "city": "Berlin", "active": True},
    "dave": {"name": "Dave", "age": 17, "city": "Munich", "active": True},
    "erin": {"name": "Erin", "age": 42, "city": "Hamburg", "active": True},
}
ORDERS = {
    "o1": {"user": "Alice", "amount": 100, "status": "shipped"},
    "o2": {"user": "Alice", "amount": 50, "status": "pending"},
    "o3": {"user": "Carol", "amount": 75, "status": "shipped"},
}


def run_demo(console: Console, *, data_dir: Path | None = None, port: int = 0) -> None:
    """Start a node, load the sample data and show what each SDK call returns.

    Args:
        console: Where the walk-through is printed.
        data_dir: The node's data directory; a temporary one when None.
        port: The node's port; 0 picks a free one.
    """
    with tempfile.TemporaryDirectory(prefix="themis-demo-") as scratch:
        directory = data_dir or Path(scratch) / "data"
        console.print(f"[bold]Starting a themis node[/bold] (data in {directory})")
        with NodeProcess(directory, port=port) as node:
            console.print(f"node is up on [cyan]{node.url}[/cyan]\n")
            with ThemisClient(endpoints=[node.url], namespace="default") as client:
                _walk_through(console, client)
    console.print("\n[bold green]Demo finished[/bold green]; the node was stopped.")


def _walk_through(console: Console, client: ThemisClient) -> None:
    step = _stepper(console)
    step("client.health()", client.health)
    step(
        'client.batch_put("relational", "users", USERS)',
        lambda: client.batch_put("relational", "users", USERS),
    )
    step(
        'client.batch_put("relational", "orders", ORDERS)',
        lambda: client.batch_put("relational", "orders", ORDERS),
    )
    user_id = "550e8400-e29b-41d4-a716-446655440000"
    step(
        f'client.put("relational", "users", "{user_id}", {{"name": "Zoe"}})',
        lambda: client.put("relational", "users", user_id, {"name": "Zoe", "age": 28}),
    )
    step(
        f'client.get("relational", "users", "{user_id}")',
        lambda: client.get("relational", "users", user_id),
    )
    step(
        f'client.delete("relational", "users", "{user_id}")',
        lambda: client.delete("relational", "users", user_id),
    )
    step(
        'client.batch_get("relational", "users", ["alice", "bob", "999"])',
        lambda: client.batch_get("relational", "users", ["alice", "bob", "999"]),
    )
    _queries(step, client)
    _graph_and_vectors(step, client)
    _transaction(step, client)


def _queries(
    step: Callable[[str, Callable[[], Any]], Any], client: ThemisClient
) -> None:
    adults = (
        "FOR u IN users FILTER u.age >= 18 SORT u.age DESC "
        "RETURN {name: u.name, age: u.age}"
    )
    step(f"client.query({adults!r}).items", lambda: client.query(adults).items)
    by_city = (
        "FOR u IN users COLLECT city = u.city AGGREGATE n = COUNT(), "
        "avg_age = AVG(u.age) SORT city RETURN {city, n, avg_age}"
    )
    step(f"client.query({by_city!r}).items", lambda: client.query(by_city).items)
    join = (
        "FOR u IN users FOR o IN orders FILTER o.user == u.name "
        "RETURN {name: u.name, amount: o.amount, status: o.status}"
    )
    step(f"client.query({join!r}).items", lambda: client.query(join).items)

    def paged() -> list[list[str]]:
        text = "FOR u IN users SORT u.name RETURN u.name"
        page = client.query(text, use_cursor=True, batch_size=2)
        pages = [page.items]
        while page.has_more:
            page = client.query(text, use_cursor=True, cursor=page.next_cursor)
            pages.append(page.items)
        return pages

    step("cursor pages of 'FOR u IN users SORT u.name RETURN u.name'", paged)


def _graph_and_vectors(
    step: Callable[[str, Callable[[], Any]], Any], client: ThemisClient
) -> None:
    alice, bob, carol = (
        f"relational.default.users:{u}" for u in ("alice", "bob", "carol")
    )
    step(
        "client.add_edge(alice, bob, edge_type='knows'), then bob -> carol",
        lambda: [
            client.add_edge(alice, bob, edge_type="knows"),
            client.add_edge(bob, carol, edge_type="knows"),
        ],
    )
    step(
        "client.graph_traverse(alice, max_depth=2, edge_type='knows')",
        lambda: client.graph_traverse(alice, max_depth=2, edge_type="knows"),
    )
    items = [
        {"pk": "doc1", "vector": [1.0, 0.0, 0.0], "fields": {"lang": "de"}},
        {"pk": "doc2", "vector": [0.8, 0.6, 0.0], "fields": {"lang": "en"}},
        {"pk": "doc3", "vector": [0.0, 1.0, 0.0], "fields": {"lang": "de"}},
    ]
    step("client.vector_insert(three vectors)", lambda: client.vector_insert(items))
    step(
        "client.vector_search([1, 0.1, 0], top_k=2, metadata_filter={'lang': 'de'})",
        lambda: client.vector_search(
            [1.0, 0.1, 0.0], top_k=2, metadata_filter={"lang": "de"}
        ),
    )


def _transaction(
    step: Callable[[str, Callable[[], Any]], Any], client: ThemisClient
) -> None:
    def transfer() -> dict[str, Any]:
        with client.begin_transaction() as txn:
            txn.put("relational", "accounts", "a", {"balance": 70})
            txn.put("relational", "accounts", "b", {"balance": 30})
        return client.batch_get("relational", "accounts", ["a", "b"]).found

    step(
        "with client.begin_transaction() as txn: two puts, committed together", transfer
    )


def _stepper(console: Console) -> Callable[[str, Callable[[], Any]], Any]:
    def step(title: str, call: Callable[[], Any]) -> Any:
        result = call()
        console.print(
            Panel(Pretty(result), title=f"[bold]{title}[/bold]", expand=False)
        )
        return result

    return step
