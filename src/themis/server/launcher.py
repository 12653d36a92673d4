"""Start and stop node processes on this machine (demo, cluster command, tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from themis.server.errors import Unavailable
from themis.server.etcd import EtcdClient, EtcdLocation


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class NodeProcess:
    """One ``themis serve`` child process.

    Args:
        data_dir: The node's data directory.
        port: Port to listen on; 0 picks a free one.
        shard_id: Shard id passed to the node.
        topology: Topology file or etcd URL passed to the node.
        extra_args: Further ``themis serve`` options.
    """

    data_dir: Path
    port: int = 0
    shard_id: str | None = None
    topology: str | None = None
    extra_args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)

    @property
    def url(self) -> str:
        """The node's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> NodeProcess:
        """Spawn the node and wait until it answers ``/health``.

        Raises:
            Unavailable: the node did not come up in time.
        """
        command = [sys.executable, "-m", "themis", "serve", "--host", self.host]
        command += ["--port", str(self.port), "--data", str(self.data_dir)]
        if self.shard_id:
            command += ["--shard-id", self.shard_id]
        if self.topology:
            command += ["--topology", self.topology]
        command += ["--log-level", "WARNING", *self.extra_args]
        self.process = subprocess.Popen(command, env=os.environ.copy())
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        """Poll ``/health`` until it answers.

        Raises:
            Unavailable: the process died or did not answer in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise Unavailable(
                    f"node on {self.url} exited with {self.process.returncode}"
                )
            try:
                httpx.get(f"{self.url}/health", timeout=1.0).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise Unavailable(f"node on {self.url} did not answer within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the node to shut down (SIGTERM) and wait; kill it if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Kill the node at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class LocalCluster:
    """Several shard nodes on loopback sharing one topology file.

    Args:
        root: Directory for the topology file and each shard's data.
        shards: Number of shard nodes.
        base_port: First port; 0 picks free ports.
        etcd_url: Where the nodes read the topology (``etcd://host:port/key``);
            without it they read the file.
        node_args: Further ``themis serve`` options for every shard.
    """

    root: Path
    shards: int
    base_port: int = 0
    etcd_url: str | None = None
    node_args: list[str] = field(default_factory=list)
    nodes: list[NodeProcess] = field(default_factory=list)
    version: int = 1

    def __post_init__(self) -> None:
        source = self.etcd_url or str(self.topology_path)
        for index in range(self.shards):
            port = self.base_port + index if self.base_port else 0
            shard_id = f"shard-{index + 1}"
            self.nodes.append(
                NodeProcess(
                    self.root / shard_id,
                    port=port,
                    shard_id=shard_id,
                    topology=source,
                    extra_args=list(self.node_args),
                )
            )

    @property
    def topology_path(self) -> Path:
        """Where the shared topology file lives."""
        return self.root / "topology.json"

    @property
    def urls(self) -> list[str]:
        """Every shard's base URL."""
        return [node.url for node in self.nodes]

    def topology(self, version: int | None = None) -> dict[str, object]:
        """The topology document describing these nodes (at ``self.version``)."""
        shards = [{"id": n.shard_id, "http_endpoint": n.url} for n in self.nodes]
        return {"version": version or self.version, "shards": shards}

    def start(self) -> LocalCluster:
        """Publish the topology (file, and etcd when given) and start every shard.

        A topology already published (in the file or etcd) is replaced by a higher
        version, so clients and nodes take the new addresses instead of keeping the
        older version. When a shard fails to start, the ones started are stopped again.

        Raises:
            Unavailable: a shard did not come up, or etcd does not answer.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.version = self._published_version() + 1
        self.publish(self.topology())
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _published_version(self) -> int:
        if self.etcd_url is None:
            path = self.topology_path
            raw = path.read_bytes() if path.exists() else None
        else:
            location = EtcdLocation.parse(self.etcd_url)
            client = EtcdClient(location.base_url)
            try:
                raw = client.get(location.key)
            finally:
                client.close()
        try:
            version = json.loads(raw)["version"] if raw else 0
        except (ValueError, TypeError, KeyError):
            return 0
        return version if isinstance(version, int) else 0

    def publish(self, topology: dict[str, object]) -> None:
        """Write a topology document to the file and, when configured, to etcd."""
        payload = json.dumps(topology)
        self.topology_path.write_text(payload)
        if self.etcd_url is not None:
            location = EtcdLocation.parse(self.etcd_url)
            client = EtcdClient(location.base_url)
            try:
                client.put(location.key, payload.encode())
            finally:
                client.close()

    def stop(self) -> None:
        """Stop every shard."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
