"""Cursor tokens and the registry of live result streams."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from themis.server.cursors import CursorRegistry, Opened, Position, TokenCodec
from themis.server.errors import BadRequest

CODEC = TokenCodec(b"k" * 32)


def _rows(count: int) -> Opened:
    return Opened(iter(range(count)), lambda: None)


def _drain(registry: CursorRegistry, count: int, size: int) -> list[list[Any]]:
    page = registry.first_page(_rows(count), "q", size)
    pages = [page.items]
    while page.has_more:
        page = registry.next_page(page.next_token, "q", None, lambda: _rows(count))
        pages.append(page.items)
    return pages


def test_pages_concatenate_to_the_whole_result() -> None:
    pages = _drain(CursorRegistry(CODEC), 10, 3)
    assert pages == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_exact_multiple_has_no_empty_last_page() -> None:
    assert _drain(CursorRegistry(CODEC), 6, 3) == [[0, 1, 2], [3, 4, 5]]


def test_a_lost_stream_is_replayed_from_the_token() -> None:
    first = CursorRegistry(CODEC)
    page = first.first_page(_rows(7), "q", 3)

    restarted = CursorRegistry(CODEC)
    resumed = restarted.next_page(page.next_token, "q", None, lambda: _rows(7))

    assert resumed.items == [3, 4, 5]


def test_retrying_the_same_token_returns_the_same_page() -> None:
    registry = CursorRegistry(CODEC)
    page = registry.first_page(_rows(9), "q", 3)
    again = registry.next_page(page.next_token, "q", None, lambda: _rows(9))
    retried = registry.next_page(page.next_token, "q", None, lambda: _rows(9))
    assert again.items == retried.items == [3, 4, 5]


def _closer(log: list[int], index: int) -> Callable[[], None]:
    return lambda: log.append(index)


def test_closed_streams_are_released() -> None:
    closed: list[int] = []
    registry = CursorRegistry(CODEC, max_live=2)
    for index in range(4):
        opened = Opened(itertools.count(), _closer(closed, index))
        registry.first_page(opened, f"q{index}", 2)
    assert len(registry) == 2
    assert closed == [0, 1]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            "garbage",
            "invalid cursor: expected a token returned as 'next_cursor', "
            "received 'garbage'",
        ),
        (42, "invalid cursor: expected a token returned as 'next_cursor', received 42"),
        ("abc.def", "invalid cursor: the token was not issued by this node"),
    ],
)
def test_bad_tokens_are_rejected(token: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        CODEC.decode(token, "q")
    assert caught.value.message == message


def test_tampered_token_is_rejected() -> None:
    token = CODEC.encode(Position("c", 3, 10), "q")
    _, signature = token.split(".")
    forged = TokenCodec(b"other" * 8).encode(Position("c", 999, 10), "q").split(".")[0]
    with pytest.raises(BadRequest, match="not issued by this node"):
        CODEC.decode(f"{forged}.{signature}", "q")


def test_token_of_another_query_is_rejected() -> None:
    token = CODEC.encode(Position("c", 3, 10), "q")
    with pytest.raises(BadRequest, match="belongs to a different query"):
        CODEC.decode(token, "other")


def test_expired_token_is_rejected() -> None:
    token = TokenCodec(b"k" * 32, ttl=-1).encode(Position("c", 3, 10), "q")
    with pytest.raises(BadRequest, match="has expired"):
        CODEC.decode(token, "q")


def test_each_page_renews_the_stream() -> None:
    renewals: list[int] = []
    registry = CursorRegistry(CODEC)

    def opened() -> Opened:
        return Opened(iter(range(7)), lambda: None, renew=lambda: renewals.append(1))

    page = registry.first_page(opened(), "q", 3)
    while page.has_more:
        page = registry.next_page(page.next_token, "q", None, opened)
    assert len(renewals) == 3
