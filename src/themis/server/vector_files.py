"""Vector indexes saved beside the data at a clean shutdown and reused at start.

Building an HNSW index from the stored documents costs CPU in proportion to its
size (about 40 s for 100,000 vectors of dimension 128), so a node that stops cleanly
writes each filled index to ``<data>/vectors/`` with the storage version it reflects.
At the next start an index is reused only if the storage is still at that version,
its definition is unchanged and every file matches its checksum; anything else is
rebuilt from the documents, which stay the only truth. Saved files are removed once
read, so none outlives the writes that follow.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from themis import _json
from themis.server.keys import collection_prefix
from themis.server.vector_index import IndexState, VectorIndex
from themis.server.vector_spec import IndexSpec

__all__ = ["SavedIndexes", "save_index"]

logger = logging.getLogger(__name__)

FORMAT = 1
_STATE = "state.json"
_DATA = "data.npy"
_SLOTS = "slots.json"
_HNSW = "hnsw.faiss"


def save_index(directory: Path, version: int, index: VectorIndex) -> bool:
    """Writes a filled index for the storage ``version``; False if it is not filled.

    The files land in a fresh folder that replaces the old one only when complete.
    """
    state = index.state()
    if state is None:
        return False
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / _folder(index.spec)
    staging = directory / f".{final.name}.{uuid.uuid4().hex}"
    staging.mkdir()
    slots = {
        "keys": [None if key is None else key.decode() for key in state.keys],
        "meta": state.meta,
    }
    files = {_DATA: _npy(state.data), _SLOTS: _json.dumps(slots)}
    if state.hnsw is not None:
        files[_HNSW] = state.hnsw.tobytes()
    for name, content in files.items():
        (staging / name).write_bytes(content)
    record = {
        "format": FORMAT,
        "version": version,
        "spec": asdict(index.spec),
        "checksums": {name: _checksum(content) for name, content in files.items()},
    }
    (staging / _STATE).write_bytes(_json.dumps(record))
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return True


class SavedIndexes:
    """The indexes saved in ``directory``, offered for one storage version.

    Args:
        directory: Where :func:`save_index` wrote them.
        version: The storage's version now; an index saved at another is stale.
    """

    def __init__(self, directory: Path, version: int) -> None:
        self._directory = directory
        self._version = version

    def take(self, spec: IndexSpec) -> VectorIndex | None:
        """The saved index for ``spec`` if it is current and intact, else ``None``."""
        folder = self._directory / _folder(spec)
        if not (folder / _STATE).exists():
            return None
        try:
            index = self._read(folder, spec)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            logger.warning(
                "not reusing the saved index of %r: %s", spec.collection, exc
            )
            return None
        if index is not None:
            logger.info("reused the saved index of %r", spec.collection)
        return index

    def discard(self) -> None:
        """Removes every saved index, used or not."""
        shutil.rmtree(self._directory, ignore_errors=True)

    def _read(self, folder: Path, spec: IndexSpec) -> VectorIndex | None:
        record: dict[str, Any] = _json.loads((folder / _STATE).read_bytes())
        if record.get("format") != FORMAT or record.get("version") != self._version:
            return None
        if record.get("spec") != asdict(spec):
            return None
        files = {name: (folder / name).read_bytes() for name in record["checksums"]}
        for name, content in files.items():
            if _checksum(content) != record["checksums"][name]:
                raise ValueError(f"{name} does not match its checksum")
        slots = _json.loads(files[_SLOTS])
        keys = [None if key is None else key.encode() for key in slots["keys"]]
        hnsw = files.get(_HNSW)
        state = IndexState(
            data=np.load(io.BytesIO(files[_DATA]), allow_pickle=False),
            keys=keys,
            meta=slots["meta"],
            hnsw=None if hnsw is None else np.frombuffer(hnsw, dtype=np.uint8).copy(),
        )
        return VectorIndex.restore(spec, state)


def _folder(spec: IndexSpec) -> str:
    # Collection names may be long and hold any printable character; a digest of
    # the name is a safe file name, and the saved definition confirms the match.
    return _checksum(collection_prefix(spec.namespace, spec.collection))


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _checksum(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=16).hexdigest()
