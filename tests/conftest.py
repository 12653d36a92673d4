"""Fixtures shared by every test package: real nodes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from themis.server.launcher import LocalCluster, NodeProcess


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node shared by the session; tests use keys of their own."""
    with NodeProcess(tmp_path_factory.mktemp("node")) as process:
        yield process


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three shard nodes sharing one topology file."""
    with LocalCluster(tmp_path_factory.mktemp("cluster"), shards=3) as running:
        yield running


@pytest.fixture
def http(node: NodeProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client bound to the shared node."""
    with httpx.Client(base_url=node.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    """An empty directory for a node that a test owns alone."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def node_url(node: NodeProcess) -> str:
    """The shared node's base URL."""
    return node.url


@pytest.fixture(params=["node", "cluster"])
def urls(request: pytest.FixtureRequest) -> list[str]:
    """Every node's URL of the shared node, then of the shared 3-shard cluster."""
    if request.param == "node":
        node: NodeProcess = request.getfixturevalue("node")
        return [node.url]
    cluster: LocalCluster = request.getfixturevalue("cluster")
    return list(cluster.urls)
