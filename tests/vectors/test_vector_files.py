"""Vector indexes saved at a clean stop and reused, or refused, at the next start."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import numpy as np
import pytest

from themis import _json
from themis.server.keys import parse_key
from themis.server.launcher import NodeProcess
from themis.server.storage import Storage
from themis.server.storage_ops import Delete, Put
from themis.server.vector_files import SavedIndexes, save_index
from themis.server.vector_index import HNSW_THRESHOLD, VectorIndex
from themis.server.vector_spec import IndexSpec
from themis.server.vectors import VectorCatalog

SPEC = IndexSpec("default", "items", 4, metric="l2")
ROWS = np.random.default_rng(7).normal(size=(HNSW_THRESHOLD + 500, 4))


def _key(pk: int) -> bytes:
    return parse_key(f"vector.default.items:{pk}").storage()


def _doc(pk: int) -> bytes:
    return _json.dumps({"embedding": ROWS[pk].tolist(), "group": pk % 3})


def _open(root: Path) -> tuple[Storage, VectorCatalog]:
    storage = Storage(root / "lmdb", durable=False)
    catalog = VectorCatalog(storage, root / "vectors")
    storage.add_listener(catalog.on_commit)
    catalog.load()
    return storage, catalog


def _close(storage: Storage, catalog: VectorCatalog) -> int:
    catalog.wait_built()
    storage.stop_writes()
    saved = catalog.save()
    storage.close()
    return saved


def _index(catalog: VectorCatalog) -> VectorIndex:
    index = catalog.get("default", "items")
    assert index is not None
    return index


def _answers(index: VectorIndex) -> list[list[tuple[bytes, float]]]:
    queries = [(ROWS[5], None), (ROWS[9], {"group": 1}), (ROWS[-1] + 0.1, None)]
    answers = []
    for vector, only in queries:
        query = np.asarray(vector, dtype=np.float32)[None, :]
        hits = index.search(query, 10, only)
        answers.append([(hit.key, round(hit.distance, 5)) for hit in hits])
    return answers


def _filled(root: Path) -> list[list[tuple[bytes, float]]]:
    storage, catalog = _open(root)
    storage.write([SPEC.put()])
    storage.write([Put("docs", _key(pk), _doc(pk)) for pk in range(len(ROWS))])
    storage.write([Delete("docs", _key(5))])
    catalog.wait_built()
    answers = _answers(_index(catalog))
    assert _close(storage, catalog) == 1
    return answers


def test_a_clean_stop_saves_the_index_and_the_next_start_reuses_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answers = _filled(tmp_path)
    assert (tmp_path / "vectors").is_dir()

    with caplog.at_level(logging.INFO, logger="themis.server.vector_files"):
        storage, catalog = _open(tmp_path)
    index = _index(catalog)

    assert "reused the saved index of 'items'" in caplog.text
    assert index.ready and index.uses_hnsw and len(index) == len(ROWS) - 1
    assert _answers(index) == answers
    assert not (tmp_path / "vectors").exists()
    storage.write([Put("docs", _key(5), _doc(5))])
    assert index.search(ROWS[5][None, :].astype(np.float32), 1)[0].key == _key(5)
    _close(storage, catalog)


def test_a_write_after_the_save_makes_the_saved_index_stale(tmp_path: Path) -> None:
    _filled(tmp_path)
    storage = Storage(tmp_path / "lmdb", durable=False)
    storage.write([Put("docs", _key(5), _doc(5))])
    storage.close()

    storage, catalog = _open(tmp_path)
    catalog.wait_built()
    index = _index(catalog)

    assert len(index) == len(ROWS)
    assert index.search(ROWS[5][None, :].astype(np.float32), 1)[0].key == _key(5)
    assert not (tmp_path / "vectors").exists()
    _close(storage, catalog)


@pytest.mark.parametrize("damaged", ["hnsw.faiss", "data.npy", "slots.json"])
def test_a_damaged_file_is_not_trusted(
    tmp_path: Path, damaged: str, caplog: pytest.LogCaptureFixture
) -> None:
    answers = _filled(tmp_path)
    (target,) = (tmp_path / "vectors").glob(f"*/{damaged}")
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0xFF
    target.write_bytes(bytes(content))

    with caplog.at_level(logging.WARNING, logger="themis.server.vector_files"):
        storage, catalog = _open(tmp_path)
    catalog.wait_built()

    assert f"{damaged} does not match its checksum" in caplog.text
    assert _answers(_index(catalog)) == answers
    _close(storage, catalog)


def test_only_the_same_definition_and_version_are_reused(tmp_path: Path) -> None:
    _filled(tmp_path)
    storage = Storage(tmp_path / "lmdb", durable=False)
    version = storage.version()
    storage.close()
    directory = tmp_path / "vectors"

    assert SavedIndexes(directory, version + 1).take(SPEC) is None
    other = IndexSpec("default", "items", 4, metric="cosine")
    assert SavedIndexes(directory, version).take(other) is None
    assert SavedIndexes(directory, version).take(SPEC) is not None


def test_an_index_still_filling_is_not_saved(tmp_path: Path) -> None:
    assert not save_index(tmp_path, 1, VectorIndex(SPEC))
    assert not any(tmp_path.iterdir())


def test_a_node_reuses_its_saved_index_after_sigterm(fresh_dir: Path) -> None:
    node = NodeProcess(fresh_dir).start()
    try:
        with httpx.Client(base_url=node.url, timeout=30.0) as http:
            body = {"collection": "docs", "dimension": 4, "metric": "l2"}
            assert http.post("/vector/index", json=body).status_code == 201
            items = [{"pk": f"p{i}", "vector": ROWS[i].tolist()} for i in range(300)]
            insert = {"collection": "docs", "items": items}
            assert http.post("/vector/batch_insert", json=insert).status_code == 200
    finally:
        node.stop()
    assert node.process is not None and node.process.returncode == 0
    assert [p.name for p in (fresh_dir / "vectors").glob("*/state.json")]

    restarted = NodeProcess(fresh_dir, port=node.port).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30.0) as http:
            query = {"collection": "docs", "vector": ROWS[42].tolist(), "k": 1}
            answer = http.post("/vector/search", json=query).json()
        assert [hit["pk"] for hit in answer["results"]] == ["p42"]
        assert not (fresh_dir / "vectors").exists()
    finally:
        restarted.stop()
