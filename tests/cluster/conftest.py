"""Fixtures of the cluster tests: a real etcd on loopback, and helpers to reach it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from themis.server.etcd import EtcdClient
from themis.server.launcher import free_port


@dataclass
class Etcd:
    """A running etcd server.

    Attributes:
        url: The client URL, e.g. ``http://127.0.0.1:23790``.
        process: The etcd process.
    """

    url: str
    process: subprocess.Popen[bytes]

    @property
    def netloc(self) -> str:
        """``host:port`` of the client URL."""
        return self.url.removeprefix("http://")

    def etcd_url(self, key: str) -> str:
        """The ``etcd://`` URL of a key."""
        return f"etcd://{self.netloc}{key}"

    def client(self) -> EtcdClient:
        """A new client of this server; the caller closes it."""
        return EtcdClient(self.url)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"etcd exited with {process.returncode} during startup")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).json().get("health") == "true":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"etcd on {url} was not healthy within {timeout} s")


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    """An etcd server on free loopback ports with a temporary data directory."""
    binary = shutil.which("etcd") or (
        "/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None
    )
    if binary is None:
        pytest.skip("etcd binary not found on PATH; run scripts/ensure-etcd.sh")
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    data_dir = tmp_path_factory.mktemp("etcd")
    command = [
        binary,
        "--name=themis-test",
        f"--data-dir={data_dir / 'data'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=themis-test={peer_url}",
        "--logger=zap",
        "--log-level=error",
    ]
    log = (data_dir / "etcd.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(client_url, process, timeout=20.0)
        yield Etcd(client_url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
