"""The ``themis`` command line: import with progress, query, health."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.http_stub import serving
from themis import ThemisClient
from themis._cli_common import node_call
from themis.cli import app, byte_size
from themis.server.launcher import LocalCluster, NodeProcess

runner = CliRunner()


def _lines(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _flat(text: str) -> str:
    # Rich wraps long lines at the terminal width.
    return " ".join(text.split())


def test_import_then_query(node: NodeProcess, tmp_path: Path) -> None:
    namespace = f"cli{uuid.uuid4().hex[:8]}"
    records = [{"_key": f"k{i}", "n": i, "even": i % 2 == 0} for i in range(25)]
    source = _lines(tmp_path / "items.jsonl", [*records, {"n": 99}])

    imported = runner.invoke(
        app,
        [
            "import",
            str(source),
            "--collection",
            "items",
            "--url",
            node.url,
            "--namespace",
            namespace,
            "--batch-size",
            "7",
        ],
    )

    assert imported.exit_code == 0, imported.output
    assert "imported 26 documents" in _flat(imported.output)
    assert "1 keys generated, 0 failed" in _flat(imported.output)
    with ThemisClient([node.url], namespace=namespace) as client:
        assert client.get("relational", "items", "k3") == {"n": 3, "even": False}

    queried = runner.invoke(
        app,
        [
            "query",
            "FOR d IN items FILTER d.n < @max SORT d.n RETURN d.n",
            "--url",
            node.url,
            "--namespace",
            namespace,
            "-p",
            "max=4",
            "--output",
            "json",
            "--batch-size",
            "2",
        ],
    )
    assert queried.exit_code == 0, queried.output
    assert json.loads(queried.stdout) == [0, 1, 2, 3]


def test_query_prints_objects_as_a_table(node: NodeProcess) -> None:
    result = runner.invoke(
        app,
        ["query", 'RETURN {city: "Berlin", n: 2}', "--url", node.url],
    )
    assert result.exit_code == 0, result.output
    assert "city" in result.stdout and "Berlin" in result.stdout


def test_import_of_a_json_array(node: NodeProcess, tmp_path: Path) -> None:
    source = tmp_path / "array.json"
    source.write_text(json.dumps([{"id": "a", "v": 1}, {"id": "b", "v": 2}]))
    result = runner.invoke(
        app,
        [
            "import",
            str(source),
            "--collection",
            "arr",
            "--url",
            node.url,
            "--namespace",
            f"cli{uuid.uuid4().hex[:8]}",
            "--key-field",
            "id",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "imported 2 documents" in _flat(result.output)


def test_bad_input_fails_clearly(node: NodeProcess, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"ok": 1}\n{nope\n')
    result = runner.invoke(
        app, ["import", str(broken), "--collection", "x", "--url", node.url]
    )
    assert result.exit_code == 1
    assert "broken.jsonl:2: expected a JSON object" in _flat(result.output)

    bad_query = runner.invoke(app, ["query", "FOR x IN", "--url", node.url])
    assert bad_query.exit_code == 1
    assert "AQL parse error" in _flat(bad_query.output)

    bad_param = runner.invoke(app, ["query", "RETURN 1", "-p", "novalue"])
    assert bad_param.exit_code == 2


def test_health_reports_the_node(node: NodeProcess) -> None:
    result = runner.invoke(app, ["health", node.url])
    assert result.exit_code == 0
    assert '"status": "healthy"' in result.stdout


def test_health_of_something_that_is_not_a_node_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(url: str, **_: object) -> httpx.Response:
        page = b"<html>a web server</html>"
        return httpx.Response(200, content=page, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", answer)
    result = runner.invoke(app, ["health", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert "expected a JSON health answer" in _flat(result.output)


def test_demo_walks_through_the_quickstart(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--data", str(tmp_path / "demo")])
    output = _flat(result.output)
    assert result.exit_code == 0, output
    assert "client.batch_get" in output
    assert "'Alice', 'Bob'" in output
    assert "Demo finished" in output


def test_prepared_parts_are_listed_and_ended_by_hand(node: NodeProcess) -> None:
    shard_id = httpx.get(f"{node.url}/_admin/cluster/topology").json()["shards"][0][
        "id"
    ]

    def begin() -> int:
        ident: int = httpx.post(f"{node.url}/transaction/begin").json()[
            "transaction_id"
        ]
        return ident

    # An open transaction as coordinator keeps the part waiting.
    coordinator, part = begin(), begin()
    key = f"cli:{uuid.uuid4().hex}"
    httpx.put(
        f"{node.url}/entities/{key}",
        json={"blob": '{"v": 1}'},
        headers={"X-Transaction-Id": str(part)},
    )
    body = {"transaction_id": part, "coordinator": [shard_id, coordinator]}
    assert httpx.post(f"{node.url}/transaction/prepare", json=body).is_success

    listed = runner.invoke(app, ["prepared", "list", "--url", node.url])
    assert listed.exit_code == 0, listed.output
    assert str(part) in listed.output
    assert f"{coordinator} on {shard_id}" in _flat(listed.output)

    ended = runner.invoke(
        app, ["prepared", "end", str(part), "--rollback", "--url", node.url]
    )
    assert ended.exit_code == 0, ended.output
    assert f"transaction {part}: rolled_back" in ended.output
    gone = runner.invoke(
        app, ["prepared", "end", str(part), "--commit", "--url", node.url]
    )
    assert gone.exit_code == 1
    assert "404" in gone.output
    assert httpx.get(f"{node.url}/entities/{key}").status_code == 404
    httpx.post(f"{node.url}/transaction/rollback", json={"transaction_id": coordinator})


@pytest.mark.parametrize(
    ("text", "size"),
    [("65536", 65536), ("500MB", 500 * 10**6), ("64GiB", 64 << 30), ("2 mib", 2 << 20)],
)
def test_sizes_are_read_with_their_units(text: str, size: int) -> None:
    assert byte_size(text) == size


@pytest.mark.parametrize("text", ["", "12XB", "1.5GiB", "-4MiB", "GiB"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="expected a whole number of bytes"):
        byte_size(text)


def test_serve_refuses_a_map_smaller_than_a_mebibyte(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--data", str(tmp_path), "--map-size", "64KiB"]
    )
    assert result.exit_code == 2
    assert "expected at least 1048576 bytes" in _flat(result.output)


def test_serve_refuses_a_busy_port_and_a_bad_topology_before_opening_storage(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = runner.invoke(app, ["serve", "--port", port, "--data", str(tmp_path)])
    assert busy.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in _flat(busy.output)
    missing = tmp_path / "absent.json"
    unread = runner.invoke(
        app,
        ["serve", "--port", "0", "--data", str(tmp_path), "--topology", str(missing)],
    )
    assert unread.exit_code == 2
    assert "cannot read topology file" in _flat(unread.output)
    assert not (tmp_path / "lmdb").exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    not_a_dir = runner.invoke(app, ["serve", "--port", "0", "--data", str(a_file)])
    assert not_a_dir.exit_code == 2
    assert "Not a directory" in _flat(not_a_dir.output)


def test_cluster_health_asks_every_shard(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=2) as pair:
        healthy = runner.invoke(app, ["health", pair.urls[0], "--cluster"])
        assert healthy.exit_code == 0, healthy.output
        for node in pair.nodes:
            assert str(node.shard_id) in healthy.stdout
            assert node.url in healthy.stdout
        pair.nodes[1].stop()
        broken = runner.invoke(app, ["health", pair.urls[0], "--cluster"])
        assert broken.exit_code == 1
        assert "unreachable" in _flat(broken.stdout)
        assert "1 of 2 shards are not healthy" in _flat(broken.output)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (502, b"<html>bad gateway</html>", "<html>bad gateway</html>"),
        (502, b'["not", "an", "object"]', '["not", "an", "object"]'),
        (502, b'{"message": "no such part"}', "no such part"),
        (200, b"<html>ok</html>", "expected a JSON object"),
        (200, b"[1, 2]", "expected a JSON object"),
    ],
)
def test_a_node_answer_of_any_shape_ends_a_command_cleanly(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
    said: str,
) -> None:
    def answer(method: str, url: str, **_: object) -> httpx.Response:
        return httpx.Response(status, content=body, request=httpx.Request(method, url))

    monkeypatch.setattr(httpx, "request", answer)
    with pytest.raises(typer.Exit):
        node_call("GET", "http://127.0.0.1:1", "/transaction/prepared", None)
    assert said in _flat(capsys.readouterr().err)


class _WebPage(BaseHTTPRequestHandler):
    """Any request gets a 200 web page: a server that is not a node."""

    def _page(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b"<html>a web server</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _page

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    with serving(_WebPage) as url:
        yield url


def test_data_commands_against_something_that_is_not_a_node_fail_cleanly(
    web_page: str, tmp_path: Path
) -> None:
    queried = runner.invoke(app, ["query", "RETURN 1", "--url", web_page])
    assert queried.exit_code == 1
    assert "query failed" in _flat(queried.output)
    assert queried.exception is None or isinstance(queried.exception, SystemExit)
    records = tmp_path / "people.jsonl"
    records.write_text('{"_key": "a", "n": 1}\n')
    imported = runner.invoke(
        app, ["import", str(records), "--collection", "people", "--url", web_page]
    )
    assert imported.exit_code == 1
    assert imported.exception is None or isinstance(imported.exception, SystemExit)


def test_cluster_up_on_a_busy_port_says_why_and_leaves_no_node(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "themis", "cluster", "up", "--shards", "2"]
        command += ["--base-port", str(port), "--data", str(tmp_path)]
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "cannot start the cluster" in done.stderr
    assert "Traceback" not in done.stderr
