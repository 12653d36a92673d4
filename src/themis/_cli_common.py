"""What the ``themis`` commands share: consoles, option types, node calls."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from themis.server.node import DEFAULT_PORT

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

console = Console()
err_console = Console(stderr=True)


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


def byte_size(text: str | int, *, minimum: int = 0) -> int:
    """Reads a size such as ``65536``, ``500MB`` or ``64GiB`` as bytes.

    An integer (an option's default) is taken as bytes already.

    Raises:
        typer.BadParameter: the text is not a whole number with a known unit, or
            is below ``minimum``.
    """
    if isinstance(text, int):
        return text
    number = text.strip().rstrip("bBiIkKmMgGtT")
    unit = text.strip()[len(number) :].strip().lower()
    if not number.strip().isdigit() or unit not in _UNITS:
        raise typer.BadParameter(
            f"expected a whole number of bytes, optionally with a unit "
            f"(KB, MB, GB, TB, KiB, MiB, GiB, TiB), received {text!r}"
        )
    size = int(number) * _UNITS[unit]
    if size < minimum:
        raise typer.BadParameter(
            f"expected at least {minimum} bytes, received {text!r}"
        )
    return size


def _map_size(text: str | int) -> int:
    return byte_size(text, minimum=1 << 20)


# Options of every node, whether run alone or as a shard of a local cluster.
MapSize = Annotated[
    int,
    typer.Option(
        parser=_map_size,
        metavar="SIZE",
        help="Most the store may hold, e.g. 64GiB or 500MB (507 once reached).",
    ),
]
TokensFile = Annotated[
    Path | None,
    typer.Option(
        envvar="THEMIS_TOKENS_FILE",
        help="Tokens file; when given, requests need a bearer token with scopes.",
    ),
]

TokenOption = Annotated[
    str | None,
    typer.Option(envvar="THEMIS_TOKEN", help="Bearer token with the cluster scope."),
]


def node_call(
    method: str,
    url: str,
    path: str,
    token: str | None,
    body: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The JSON answer of one request to a node; exits 1 on an error status or when
    the node cannot be reached, printing why."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", json=body, headers=headers, timeout=10
        )
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        try:
            said = exc.response.json()
        except ValueError:
            said = None
        message = said.get("message") if isinstance(said, dict) else None
        message = message or exc.response.text[:200]
        err_console.print(f"[red]{exc.response.status_code}[/red] {message}")
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        err_console.print(f"[red]cannot reach {url}[/red]: {exc}")
        raise typer.Exit(1) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        err_console.print(
            f"[red]expected a JSON object from {url}[/red], received "
            f"{response.text[:200]!r}"
        )
        raise typer.Exit(1)
    return answer
