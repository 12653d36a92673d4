"""Query cursors: signed page tokens and the live result streams behind them.

A token is ``base64url(payload).base64url(hmac)``; the payload binds the cursor to its
query (text, parameters, namespace), the position of the next page and an expiry. The
node keeps the running result stream of each cursor, so every page costs the same
however deep it is. When the stream is gone (evicted, node restarted) a valid token
still works: the query runs again and skips to the position.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from themis import _json
from themis.server.errors import BadRequest

TOKEN_TTL_SECONDS = 3600.0
IDLE_TTL_SECONDS = 300.0
MAX_LIVE_CURSORS = 256


@dataclass(frozen=True, slots=True)
class Position:
    """Where a token resumes."""

    cursor_id: str
    offset: int
    batch_size: int


@dataclass
class Page:
    """One page of results and how to continue."""

    items: list[Any]
    has_more: bool
    next_token: str | None
    batch_size: int
    context: Any = None


@dataclass(frozen=True)
class Opened:
    """A running query: its rows, how to release it, and what it reports on the side
    (such as the shards a partial cluster result is missing)."""

    rows: Iterator[Any]
    close: Callable[[], None]
    context: Any = None
    renew: Callable[[], None] | None = None
    """Called before each page is taken (to restart the query's time budget)."""


@dataclass
class _Stream:
    rows: Iterator[Any]
    close: Callable[[], None]
    context: Any = None
    renew: Callable[[], None] | None = None
    offset: int = 0
    pending: list[Any] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    replay: tuple[int, Page] | None = None


def fingerprint(*parts: Any) -> str:
    """A short digest binding a token to the request that created it."""
    digest = hashlib.sha256(_json.dumps(parts)).hexdigest()
    return digest[:32]


class TokenCodec:
    """Signs and verifies cursor tokens with a node secret."""

    def __init__(self, secret: bytes, *, ttl: float = TOKEN_TTL_SECONDS) -> None:
        self._secret = secret
        self._ttl = ttl

    def encode(self, position: Position, binding: str) -> str:
        payload = {
            "c": position.cursor_id,
            "o": position.offset,
            "n": position.batch_size,
            "b": binding,
            "e": int(time.time() + self._ttl),
        }
        body = _b64(_json.dumps(payload))
        return f"{body}.{self._sign(body)}"

    def decode(self, token: Any, binding: str) -> Position:
        """Verify a token for this request.

        Raises:
            BadRequest: the token is malformed, tampered with, expired or foreign.
        """
        if not (isinstance(token, str) and token.isascii() and token.count(".") == 1):
            raise BadRequest(
                f"invalid cursor: expected a token returned as 'next_cursor', "
                f"received {token!r:.80}"
            )
        body, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise BadRequest("invalid cursor: the token was not issued by this node")
        payload = _json.loads(_unb64(body))
        if payload["b"] != binding:
            raise BadRequest(
                "invalid cursor: the token belongs to a different query or parameters"
            )
        if payload["e"] < time.time():
            raise BadRequest(
                "invalid cursor: the token has expired; run the query again"
            )
        return Position(str(payload["c"]), int(payload["o"]), int(payload["n"]))

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return _b64(mac[:16])


class CursorRegistry:
    """Live result streams of open cursors, bounded in number and idle time."""

    def __init__(
        self,
        codec: TokenCodec,
        *,
        max_live: int = MAX_LIVE_CURSORS,
        idle_ttl: float = IDLE_TTL_SECONDS,
    ) -> None:
        self.codec = codec
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._max_live = max_live
        self._idle_ttl = idle_ttl
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(4)

    def first_page(self, opened: Opened, binding: str, batch_size: int) -> Page:
        """Open a cursor over a running query and take its first page."""
        cursor_id = f"{self._prefix}-{next(self._ids)}"
        stream = _Stream(opened.rows, opened.close, opened.context, opened.renew)
        with stream.lock:
            page = self._take_or_close(cursor_id, stream, binding, batch_size)
        if page.has_more:
            self._remember(cursor_id, stream)
        else:
            opened.close()
        return page

    def next_page(
        self,
        token: Any,
        binding: str,
        batch_size: int | None,
        restart: Callable[[], Opened],
    ) -> Page:
        """Continue a cursor; ``restart`` re-runs the query when its stream is gone.

        The page size is ``batch_size`` when given, else the cursor's own.

        Raises:
            BadRequest: the token is invalid for this query.
        """
        position = self.codec.decode(token, binding)
        size = batch_size or position.batch_size
        stream = self._claim(position)
        if stream is None:
            opened = restart()
            stream = _Stream(opened.rows, opened.close, opened.context, opened.renew)
            for _ in itertools.islice(opened.rows, position.offset):
                pass
            stream.offset = position.offset
        with stream.lock:
            if stream.replay is not None and stream.replay[0] == position.offset:
                return stream.replay[1]
            page = self._take_or_close(position.cursor_id, stream, binding, size)
        if page.has_more:
            self._remember(position.cursor_id, stream)
        else:
            self._forget(position.cursor_id)
            stream.close()
        return page

    def close_all(self) -> None:
        """Release every open stream (node shutdown)."""
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            stream.close()

    def __len__(self) -> int:
        return len(self._streams)

    def _take_or_close(
        self, cursor_id: str, stream: _Stream, binding: str, batch_size: int
    ) -> Page:
        try:
            return self._take(cursor_id, stream, binding, batch_size)
        except BaseException:
            self._forget(cursor_id)
            stream.close()
            raise

    def _take(
        self, cursor_id: str, stream: _Stream, binding: str, batch_size: int
    ) -> Page:
        start = stream.offset
        if stream.renew is not None:
            stream.renew()
        items = stream.pending + list(
            itertools.islice(stream.rows, batch_size + 1 - len(stream.pending))
        )
        stream.pending = items[batch_size:]
        items = items[:batch_size]
        stream.offset += len(items)
        stream.last_used = time.monotonic()
        has_more = bool(stream.pending)
        token = None
        if has_more:
            position = Position(cursor_id, stream.offset, batch_size)
            token = self.codec.encode(position, binding)
        page = Page(items, has_more, token, batch_size, stream.context)
        stream.replay = (start, page)
        return page

    def _claim(self, position: Position) -> _Stream | None:
        with self._lock:
            stream = self._streams.get(position.cursor_id)
        if stream is None:
            return None
        at = stream.offset
        replayable = stream.replay is not None and stream.replay[0] == position.offset
        return stream if at == position.offset or replayable else None

    def _remember(self, cursor_id: str, stream: _Stream) -> None:
        evicted: list[_Stream] = []
        now = time.monotonic()
        with self._lock:
            self._streams[cursor_id] = stream
            self._streams.move_to_end(cursor_id)
            for key in list(self._streams):
                idle = now - self._streams[key].last_used > self._idle_ttl
                if len(self._streams) > self._max_live or idle:
                    evicted.append(self._streams.pop(key))
        for old in evicted:
            with old.lock:
                old.close()

    def _forget(self, cursor_id: str) -> None:
        with self._lock:
            self._streams.pop(cursor_id, None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
