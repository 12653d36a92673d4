"""The fixed dataset the AQL corpus runs against.

Document ids are ``collection:key`` and edges name their vertices that way. A
server re-running the corpus stores these documents under the same collection
names (namespace ``default``) and declares the same indexes and graph.
"""

from __future__ import annotations

from typing import Any

from themis.aql import MemorySource

USERS: list[dict[str, Any]] = [
    {
        "_key": "alice",
        "name": "Alice",
        "age": 30,
        "city": "Berlin",
        "active": True,
        "tags": ["admin", "dev"],
        "address": {"zip": "10115", "street": "Unter den Linden"},
        "scores": [3, 5, 4],
    },
    {
        "_key": "bob",
        "name": "Bob",
        "age": 25,
        "city": "Hamburg",
        "active": False,
        "tags": ["dev"],
        "address": {"zip": "20095", "street": "Jungfernstieg"},
        "scores": [2],
    },
    {
        "_key": "carol",
        "name": "Carol",
        "age": 35,
        "city": "Berlin",
        "active": True,
        "tags": [],
        "address": {"zip": "10117", "street": "Friedrichstrasse"},
        "scores": [5, 5],
    },
    {
        "_key": "dave",
        "name": "Dave",
        "age": 17,
        "city": "Munich",
        "active": True,
        "tags": ["ops", "dev"],
        "scores": [],
    },
    {
        "_key": "eve",
        "name": "Eve",
        "city": "Hamburg",
        "active": True,
        "tags": ["ops"],
        "email": "eve@example.com",
        "scores": [1, 2, 3, 4],
    },
]

ORDERS: list[dict[str, Any]] = [
    {"_key": "o1", "user": "Alice", "amount": 100, "status": "shipped", "items": 3},
    {"_key": "o2", "user": "Alice", "amount": 50, "status": "pending", "items": 1},
    {"_key": "o3", "user": "Carol", "amount": 75, "status": "shipped", "items": 2},
    {"_key": "o4", "user": "Bob", "amount": 20.5, "status": "cancelled", "items": 1},
    {"_key": "o5", "user": "Dave", "amount": 10, "status": "shipped", "items": 4},
]

CITIES: list[dict[str, Any]] = [
    {"_key": "berlin", "name": "Berlin", "population": 3645000, "country": "DE"},
    {"_key": "hamburg", "name": "Hamburg", "population": 1841000, "country": "DE"},
    {"_key": "munich", "name": "Munich", "population": 1472000, "country": "DE"},
    {"_key": "paris", "name": "Paris", "population": 2161000, "country": "FR"},
]

KNOWS: list[dict[str, Any]] = [
    {
        "_key": "e1",
        "_from": "users:alice",
        "_to": "users:bob",
        "_type": "knows",
        "w": 1,
    },
    {
        "_key": "e2",
        "_from": "users:bob",
        "_to": "users:carol",
        "_type": "knows",
        "w": 2,
    },
    {
        "_key": "e3",
        "_from": "users:alice",
        "_to": "users:dave",
        "_type": "mentors",
        "w": 5,
    },
    {
        "_key": "e4",
        "_from": "users:carol",
        "_to": "users:dave",
        "_type": "knows",
        "w": 1,
    },
    {"_key": "e5", "_from": "users:dave", "_to": "users:eve", "_type": "knows", "w": 1},
    {
        "_key": "e6",
        "_from": "users:eve",
        "_to": "users:ghost",
        "_type": "knows",
        "w": 1,
    },
]

COLLECTIONS: dict[str, list[dict[str, Any]]] = {
    "users": USERS,
    "orders": ORDERS,
    "cities": CITIES,
    "knows": KNOWS,
}
INDEXES: list[tuple[str, tuple[str, ...], str]] = [
    ("users", ("age",), "range"),
    ("users", ("city",), "hash"),
    ("orders", ("user",), "hash"),
    ("orders", ("amount",), "range"),
]
GRAPHS: dict[str, list[str]] = {"social": ["knows"]}


def make_source(*, indexed: bool = True) -> MemorySource:
    """Return a MemorySource holding the dataset, with or without its indexes."""
    source = MemorySource(COLLECTIONS, GRAPHS)
    if indexed:
        for collection, field, kind in INDEXES:
            source.add_index(collection, field, kind)  # type: ignore[arg-type]
    return source
