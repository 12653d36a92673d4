"""The ``themis`` command line: run nodes, check health, walk through a demo."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

try:
    import rich  # noqa: F401  (every command prints through it)
    import typer
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise SystemExit(
        "the themis command needs the server extra: pip install 'themis[server]'"
    ) from exc

from themis._cli_common import (
    DEFAULT_URL,
    MapSize,
    TokensFile,
    byte_size,
    console,
    err_console,
)
from themis._cluster_commands import cluster_app, prepared_app
from themis.aql import Budget
from themis.server.errors import ServerError
from themis.server.http import DEFAULT_MAX_BODY_BYTES
from themis.server.node import DEFAULT_PORT, HttpServer, NodeConfig, serve
from themis.server.storage import DEFAULT_MAP_SIZE

__all__ = ["app", "byte_size", "main"]

app = typer.Typer(
    help="ThemisDB-compatible nodes and the themis SDK from the command line.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cluster_app, name="cluster")
app.add_typer(prepared_app, name="prepared")


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    data: Annotated[Path, typer.Option(help="Data directory.")] = Path("themis-data"),
    shard_id: Annotated[
        str | None, typer.Option(help="This node's shard id in the topology.")
    ] = None,
    topology: Annotated[
        str | None,
        typer.Option(help="Topology JSON file, or etcd://host:port/key to follow."),
    ] = None,
    server: Annotated[
        HttpServer, typer.Option(help="ASGI server to run on.")
    ] = HttpServer.GRANIAN,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest request body accepted (413 above).")
    ] = DEFAULT_MAX_BODY_BYTES,
    map_size: MapSize = DEFAULT_MAP_SIZE,
    query_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds one query may run (400 after).")
    ] = 30.0,
    query_max_rows: Annotated[
        int,
        typer.Option(min=1000, help="Rows one query may hold in memory (400 above)."),
    ] = 1_000_000,
    tokens: TokensFile = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run one node in the foreground; Ctrl-C or SIGTERM stops it cleanly."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(message)s")
    config = NodeConfig(
        host=host,
        port=port,
        data_dir=data,
        shard_id=shard_id,
        topology=topology,
        server=server,
        max_body_bytes=max_body_bytes,
        map_size=map_size,
        query_budget=Budget(max_seconds=query_timeout, max_rows=query_max_rows),
        tokens_file=tokens,
    )
    try:
        serve(config, ready=lambda: err_console.print(f"themis node on {config.url}"))
    except ServerError as exc:
        err_console.print(f"[red]cannot start the node:[/red] {exc.message}")
        raise typer.Exit(2) from None
    except OSError as exc:
        err_console.print(f"[red]the node failed:[/red] {exc}")
        raise typer.Exit(2) from None
    # The node has stopped and closed its storage. Leaving without the interpreter's
    # own teardown keeps the HTTP server's native threads, which may still be winding
    # down, from calling into an interpreter being torn down (an abort at exit).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command("health")
def health_command(
    url: Annotated[
        str, typer.Argument(help="Node URL.")
    ] = f"http://127.0.0.1:{DEFAULT_PORT}",
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster", help="Ask every shard of the node's topology, in a table."
        ),
    ] = False,
) -> None:
    """Ask a node whether it is healthy; exits 1 when it is not."""
    import httpx

    if cluster:
        _cluster_health(url)
        return
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=5.0)
        response.raise_for_status()
        answer = response.json()
    except httpx.HTTPError as exc:
        err_console.print(f"[red]unhealthy[/red] {url}: {exc}")
        raise typer.Exit(1) from exc
    except ValueError:
        err_console.print(
            f"[red]unhealthy[/red] {url}: expected a JSON health answer, received "
            f"{response.text[:200]!r}"
        )
        raise typer.Exit(1) from None
    console.print_json(data=answer)


def _cluster_health(url: str) -> None:
    """Prints every shard's health; exits 1 when any shard is not healthy."""
    import httpx
    from rich.table import Table

    from themis import ThemisClient, ThemisError

    table = Table("shard", "endpoint", "status", "uptime (s)", "version")
    unhealthy = 0
    with ThemisClient(url, max_retries=0, timeout=5.0) as client:
        try:
            shards = client.topology().shards
        except (ThemisError, httpx.HTTPError) as exc:
            err_console.print(f"[red]no topology[/red] from {url}: {exc}")
            raise typer.Exit(1) from exc
        for shard in shards:
            try:
                answer = client.health(shard.endpoint)
            except (ThemisError, httpx.HTTPError) as exc:
                answer = {"status": f"unreachable: {exc}"}
            healthy = answer.get("status") == "healthy"
            unhealthy += not healthy
            status = (
                answer.get("status", "?") if healthy else f"[red]{answer['status']}"
            )
            if healthy and "rebalancing_to" in answer:
                status = f"[yellow]healthy, rebalancing to {answer['rebalancing_to']}"
            table.add_row(
                shard.id,
                shard.endpoint,
                status,
                str(answer.get("uptime_seconds", "")),
                str(answer.get("version", "")),
            )
    console.print(table)
    if unhealthy:
        err_console.print(f"[red]{unhealthy} of {len(shards)} shards are not healthy")
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    data: Annotated[
        Path | None, typer.Option(help="Data directory (default: a temporary one).")
    ] = None,
    port: Annotated[
        int, typer.Option(help="Port for the demo node (0: any free).")
    ] = 0,
) -> None:
    """Start a local node, load sample data and walk through the quickstart."""
    from themis._demo import run_demo

    run_demo(console, data_dir=data, port=port)


@app.command("query")
def query_command(
    aql: Annotated[str, typer.Argument(help="The AQL query.")],
    url: Annotated[str, typer.Option(help="A node of the cluster.")] = DEFAULT_URL,
    namespace: Annotated[str, typer.Option(help="Namespace of the query.")] = "default",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Bind parameter name=value."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per page.")] = 1000,
    output: Annotated[
        str, typer.Option(help="table, json or jsonl (streams every page).")
    ] = "table",
) -> None:
    """Run an AQL query and print its rows, paging through the whole result."""
    import httpx

    from themis import ThemisClient, ThemisError
    from themis._data_commands import parse_params, print_rows

    try:
        params = parse_params(param or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with ThemisClient(endpoints=[url], namespace=namespace) as client:
        try:
            rows = client.query_iter(aql, params=params or None, batch_size=batch_size)
            count = print_rows(console, rows, output)
        except (ThemisError, httpx.HTTPError) as exc:
            err_console.print(f"[red]query failed[/red]: {exc}")
            raise typer.Exit(1) from exc
    err_console.print(f"{count} rows")


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="JSON Lines file, or a JSON array.")],
    collection: Annotated[str, typer.Option(help="Target collection.")],
    url: Annotated[str, typer.Option(help="A node of the cluster.")] = DEFAULT_URL,
    namespace: Annotated[str, typer.Option(help="Target namespace.")] = "default",
    model: Annotated[str, typer.Option(help="Model part of the keys.")] = "relational",
    key_field: Annotated[
        str, typer.Option(help="Attribute holding each key (else a new uuid).")
    ] = "_key",
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Import documents with a progress bar; exits 1 when any record failed."""
    import httpx

    from themis import ThemisClient, ThemisError
    from themis._data_commands import import_records, progress_bar, read_records

    with (
        ThemisClient(endpoints=[url], namespace=namespace) as client,
        progress_bar(err_console) as progress,
    ):
        try:
            report = import_records(
                client,
                read_records(path),
                model=model,
                collection=collection,
                key_field=key_field,
                batch_size=batch_size,
                progress=progress,
            )
        except (OSError, ValueError, ThemisError, httpx.HTTPError) as exc:
            err_console.print(f"[red]import failed[/red]: {exc}")
            raise typer.Exit(1) from exc
    err_console.print(
        f"imported {report.imported} documents into {namespace}.{collection} "
        f"({report.generated_keys} keys generated, {len(report.failed)} failed)"
    )
    for key, message in list(report.failed.items())[:10]:
        err_console.print(f"  {key}: {message}")
    if report.failed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``themis`` console script."""
    app()
