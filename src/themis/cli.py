"""The ``themis`` command line: run nodes, check health, walk through a demo."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

try:
    import typer
    from rich.console import Console
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise SystemExit(
        "the themis command needs the server extra: pip install 'themis[server]'"
    ) from exc

from themis.aql import Budget
from themis.server.errors import ServerError
from themis.server.http import DEFAULT_MAX_BODY_BYTES
from themis.server.node import DEFAULT_PORT, HttpServer, NodeConfig, serve
from themis.server.storage import DEFAULT_MAP_SIZE

_DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

app = typer.Typer(
    help="ThemisDB-compatible nodes and the themis SDK from the command line.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


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
    serve(config, ready=lambda: err_console.print(f"themis node on {config.url}"))
    # The node has stopped and closed its storage. Leaving without the interpreter's
    # own teardown keeps the HTTP server's native threads, which may still be winding
    # down, from calling into an interpreter being torn down (an abort at exit).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
    except httpx.HTTPError as exc:
        err_console.print(f"[red]unhealthy[/red] {url}: {exc}")
        raise typer.Exit(1) from exc
    console.print_json(response.text)


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


cluster_app = typer.Typer(help="Run a local sharded cluster.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("up")
def cluster_up(
    shards: Annotated[int, typer.Option(min=1, max=64, help="Number of shards.")] = 3,
    base_port: Annotated[
        int, typer.Option(help="Port of the first shard; 0 picks free ports.")
    ] = DEFAULT_PORT,
    data: Annotated[Path, typer.Option(help="Data directory of the cluster.")] = Path(
        "themis-cluster"
    ),
    etcd: Annotated[
        str | None,
        typer.Option(help="Publish the topology to etcd, e.g. etcd://127.0.0.1:2379."),
    ] = None,
    map_size: MapSize = DEFAULT_MAP_SIZE,
    tokens: TokensFile = None,
) -> None:
    """Start SHARDS nodes on 127.0.0.1 in the foreground; Ctrl-C stops them all."""
    import signal
    import threading

    from rich.table import Table

    from themis.server.launcher import LocalCluster

    _check_same_shards(data, etcd, shards)
    node_args = ["--map-size", str(map_size)]
    if tokens is not None:
        node_args += ["--tokens", str(tokens)]
    cluster = LocalCluster(
        data, shards=shards, base_port=base_port, etcd_url=etcd, node_args=node_args
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with cluster:
        table = Table("shard", "endpoint", "data")
        for node in cluster.nodes:
            table.add_row(node.shard_id, node.url, str(node.data_dir))
        console.print(table)
        console.print_json(data=cluster.topology())
        where = etcd or str(cluster.topology_path)
        err_console.print(f"topology published to {where}; Ctrl-C stops the cluster")
        stop.wait()
    err_console.print("cluster stopped")


def _check_same_shards(data: Path, etcd: str | None, shards: int) -> None:
    """Refuses to start a cluster whose data holds other shards than asked for:
    its documents would sit on shards that no longer own them."""
    from themis.server import rebalance_driver
    from themis.server.topology import ConfigError

    path = data / "topology.json"
    if not path.exists():
        return
    try:
        published = rebalance_driver.read_topology(str(path))
    except ConfigError:
        return
    held = sorted(str(s.get("id")) for s in published["shards"] if isinstance(s, dict))
    wanted = sorted(f"shard-{i + 1}" for i in range(shards))
    if held != wanted:
        source = etcd or str(path)
        err_console.print(
            f"[red]the cluster in {data} has shards {held}, not {wanted}.[/red] Start "
            f"it with its shards, then change them with 'themis cluster rebalance "
            f"--topology {source} --add ID=URL | --remove ID'"
        )
        raise typer.Exit(2)


prepared_app = typer.Typer(
    help="Prepared parts of cross-shard commits waiting on a node.",
    no_args_is_help=True,
)
app.add_typer(prepared_app, name="prepared")

_TokenOption = Annotated[
    str | None,
    typer.Option(envvar="THEMIS_TOKEN", help="Bearer token with the cluster scope."),
]


@cluster_app.command("rebalance")
def cluster_rebalance(
    topology: Annotated[
        str,
        typer.Option(
            help="Where the topology is published: a file or etcd://host:port/key."
        ),
    ],
    add: Annotated[
        list[str] | None,
        typer.Option(help="A shard to add, as ID=URL; the node must be running."),
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option(help="The id of a shard to empty and drop.")
    ] = None,
    lost: Annotated[
        list[str] | None,
        typer.Option(
            help="The id of a shard gone for good, dropped with its documents; "
            "it must not answer."
        ),
    ] = None,
    abort: Annotated[
        bool, typer.Option(help="Go back to the published topology instead.")
    ] = False,
    token: _TokenOption = None,
) -> None:
    """Add or remove shards, moving the documents whose owner changes.

    Writes and queries wait (503, which the SDK retries) until the documents have
    moved; reads of keys go on.
    If a node fails midway, run the same command again to finish, or --abort.
    A shard that cannot come back is dropped with --lost: its keys go to the other
    shards, empty.
    """
    import httpx
    from rich.table import Table

    from themis._data_commands import progress_bar
    from themis.server import rebalance_driver as driver

    added = []
    for item in add or []:
        shard_id, sep, url = item.partition("=")
        if not sep or not shard_id or not url.startswith(("http://", "https://")):
            err_console.print(f"[red]expected --add ID=URL, received {item!r}[/red]")
            raise typer.Exit(2)
        added.append((shard_id, url))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=driver.timeout(), headers=headers) as http:
        try:
            current = driver.read_topology(topology)
            plan = driver.plan(
                current, added, remove or [], abort=abort, http=http, lost=lost or []
            )
            if plan.resumed:
                err_console.print(
                    f"resuming the rebalance to version {plan.target.get('version')}"
                )
            with progress_bar(err_console) as bar:
                task = bar.add_task("moving documents", total=None)

                def moving(documents: int, moved: int) -> None:
                    bar.update(task, total=documents, completed=moved)

                driver.execute(plan, topology, http, err_console.print, moving)
        except ServerError as exc:
            err_console.print(f"[red]rebalance stopped:[/red] {exc.message}")
            raise typer.Exit(1) from None
    table = Table("from -> to", "documents")
    for route, count in sorted(plan.moved.items()):
        table.add_row(route, str(count))
    console.print(table)
    console.print_json(data=plan.target)
    err_console.print(
        f"topology version {plan.target.get('version')} published to {topology}"
    )


@prepared_app.command("list")
def prepared_list(
    url: Annotated[str, typer.Option(help="The node.")] = _DEFAULT_URL,
    token: _TokenOption = None,
) -> None:
    """List the prepared parts waiting for their coordinator's word, oldest first."""
    from rich.table import Table

    answer = _node_call("GET", url, "/transaction/prepared", token)
    table = Table("transaction", "coordinator", "writes", "waiting (s)")
    for part in answer["prepared"]:
        shard_id, ident = part["coordinator"] or ("?", "?")
        table.add_row(
            str(part["transaction_id"]),
            f"{ident} on {shard_id}",
            str(part["writes"]),
            f"{part['waiting_seconds']:.1f}",
        )
    console.print(table)


@prepared_app.command("end")
def prepared_end(
    transaction_id: Annotated[int, typer.Argument(help="The prepared part's id.")],
    commit: Annotated[
        bool,
        typer.Option(
            "--commit/--rollback",
            help="Apply its writes or discard them; only as its coordinator decided.",
        ),
    ],
    url: Annotated[str, typer.Option(help="The node.")] = _DEFAULT_URL,
    token: _TokenOption = None,
) -> None:
    """End a prepared part by hand, when its coordinator is gone for good."""
    action = "commit" if commit else "rollback"
    body = {"transaction_id": transaction_id}
    answer = _node_call("POST", url, f"/transaction/{action}", token, body)
    console.print(f"transaction {answer['transaction_id']}: {answer['status']}")


def _node_call(
    method: str,
    url: str,
    path: str,
    token: str | None,
    body: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", json=body, headers=headers, timeout=10
        )
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        message = exc.response.json().get("message", exc.response.text)
        err_console.print(f"[red]{exc.response.status_code}[/red] {message}")
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        err_console.print(f"[red]cannot reach {url}[/red]: {exc}")
        raise typer.Exit(1) from exc
    answer: dict[str, Any] = response.json()
    return answer


@app.command("query")
def query_command(
    aql: Annotated[str, typer.Argument(help="The AQL query.")],
    url: Annotated[str, typer.Option(help="A node of the cluster.")] = _DEFAULT_URL,
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

    from themis import ThemisClient
    from themis._data_commands import parse_params, print_rows

    try:
        params = parse_params(param or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    with ThemisClient(endpoints=[url], namespace=namespace) as client:
        try:
            rows = client.query_iter(aql, params=params or None, batch_size=batch_size)
            count = print_rows(console, rows, output)
        except httpx.HTTPError as exc:
            err_console.print(f"[red]query failed[/red]: {exc}")
            raise typer.Exit(1) from exc
    err_console.print(f"{count} rows")


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="JSON Lines file, or a JSON array.")],
    collection: Annotated[str, typer.Option(help="Target collection.")],
    url: Annotated[str, typer.Option(help="A node of the cluster.")] = _DEFAULT_URL,
    namespace: Annotated[str, typer.Option(help="Target namespace.")] = "default",
    model: Annotated[str, typer.Option(help="Model part of the keys.")] = "relational",
    key_field: Annotated[
        str, typer.Option(help="Attribute holding each key (else a new uuid).")
    ] = "_key",
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Import documents with a progress bar; exits 1 when any record failed."""
    import httpx

    from themis import ThemisClient
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
        except (OSError, ValueError, httpx.HTTPError) as exc:
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
