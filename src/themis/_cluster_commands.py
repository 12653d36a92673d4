"""``themis cluster`` and ``themis prepared``: local clusters, rebalancing, and the
prepared parts of cross-shard commits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from themis._cli_common import (
    DEFAULT_URL,
    MapSize,
    TokenOption,
    TokensFile,
    console,
    err_console,
    node_call,
)
from themis.server.errors import ServerError
from themis.server.node import DEFAULT_PORT
from themis.server.storage import DEFAULT_MAP_SIZE

__all__ = ["cluster_app", "prepared_app"]

cluster_app = typer.Typer(help="Run a local sharded cluster.", no_args_is_help=True)


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
    try:
        cluster.start()
    except ServerError as exc:
        # The node's own message, printed above, says why it did not start.
        err_console.print(f"[red]cannot start the cluster:[/red] {exc.message}")
        raise typer.Exit(1) from None
    try:
        table = Table("shard", "endpoint", "data")
        for node in cluster.nodes:
            table.add_row(node.shard_id, node.url, str(node.data_dir))
        console.print(table)
        console.print_json(data=cluster.topology())
        where = etcd or str(cluster.topology_path)
        err_console.print(f"topology published to {where}; Ctrl-C stops the cluster")
        stop.wait()
    finally:
        cluster.stop()
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
    dry_run: Annotated[
        bool,
        typer.Option(help="Show what would move, and the target; change nothing."),
    ] = False,
    token: TokenOption = None,
) -> None:
    """Add or remove shards, moving the documents whose owner changes.

    Writes and queries wait (503, which the SDK retries) until the documents have
    moved; reads of keys go on.
    If a node fails midway, run the same command again to finish, or --abort.
    A shard that cannot come back is dropped with --lost: its keys go to the other
    shards, empty. --dry-run shows what would move.
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
            if dry_run:
                driver.preview(plan, http)
            else:
                if plan.resumed:
                    version = plan.target.get("version")
                    err_console.print(f"resuming the rebalance to version {version}")
                with progress_bar(err_console) as bar:
                    task = bar.add_task("moving documents", total=None)

                    def moving(documents: int, moved: int) -> None:
                        bar.update(task, total=documents, completed=moved)

                    driver.execute(plan, topology, http, err_console.print, moving)
        except ServerError as exc:
            err_console.print(f"[red]rebalance stopped:[/red] {exc.message}")
            raise typer.Exit(1) from None
        except OSError as exc:
            # Publishing to a topology file the command cannot write.
            err_console.print(f"[red]rebalance stopped:[/red] {exc}")
            raise typer.Exit(1) from None
    table = Table("from -> to", "documents")
    for route, count in sorted(plan.moved.items()):
        table.add_row(route, str(count))
    console.print(table)
    console.print_json(data=plan.target)
    version = plan.target.get("version")
    if dry_run:
        err_console.print(f"dry run: nothing moved; version {version} not published")
    else:
        err_console.print(f"topology version {version} published to {topology}")


prepared_app = typer.Typer(
    help="Prepared parts of cross-shard commits waiting on a node.",
    no_args_is_help=True,
)


@prepared_app.command("list")
def prepared_list(
    url: Annotated[str, typer.Option(help="The node.")] = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List the prepared parts waiting for their coordinator's word, oldest first."""
    from rich.table import Table

    answer = node_call("GET", url, "/transaction/prepared", token)
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
    url: Annotated[str, typer.Option(help="The node.")] = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """End a prepared part by hand, when its coordinator is gone for good."""
    action = "commit" if commit else "rollback"
    body = {"transaction_id": transaction_id}
    answer = node_call("POST", url, f"/transaction/{action}", token, body)
    console.print(f"transaction {answer['transaction_id']}: {answer['status']}")
