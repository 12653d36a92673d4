"""What ``themis query`` and ``themis import`` do, apart from parsing arguments."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from themis import ThemisClient, _json

TABLE_ROWS = 200


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """Read ``name=value`` bind parameters; values are JSON when they parse as JSON.

    Raises:
        ValueError: a pair has no ``=``.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"expected a parameter as name=value, received {pair!r}")
        try:
            params[name] = _json.loads(raw)
        except ValueError:
            params[name] = raw
    return params


def print_rows(console: Console, rows: Iterator[Any], output: str) -> int:
    """Print query rows as a table (objects), JSON lines or one JSON array."""
    if output == "jsonl":
        count = 0
        for row in rows:
            console.print_json(_json.dumps(row).decode(), indent=None)
            count += 1
        return count
    every = list(rows)
    if output == "json" or not every or not all(isinstance(r, dict) for r in every):
        console.print_json(_json.dumps(every).decode())
        return len(every)
    console.print(_table(every[:TABLE_ROWS]))
    if len(every) > TABLE_ROWS:
        console.print(f"... {len(every) - TABLE_ROWS} more rows; use --output jsonl")
    return len(every)


def _table(rows: list[dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    table = Table(*columns)
    for row in rows:
        cells = [row.get(name) for name in columns]
        table.add_row(
            *(c if isinstance(c, str) else _json.dumps(c).decode() for c in cells)
        )
    return table


@dataclass
class ImportReport:
    """What an import did."""

    imported: int = 0
    generated_keys: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Objects from a JSON Lines file, or from a file holding one JSON array.

    Raises:
        ValueError: a line or the array is not JSON, or holds something other than
            objects.
    """
    with path.open("rb") as handle:
        head = handle.read(1024).lstrip()
        handle.seek(0)
        if head.startswith(b"["):
            records: Any = _json.loads(handle.read())
            yield from _objects(records, path)
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield from _objects([_decode_line(line, path, number)], path)


def _decode_line(line: bytes, path: Path, number: int) -> Any:
    try:
        return _json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{path}:{number}: expected a JSON object: {exc}") from exc


def _objects(records: Any, path: Path) -> Iterator[dict[str, Any]]:
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON array of objects")
    for record in records:
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}: expected objects, received {type(record).__name__}"
            )
        yield record


def import_records(
    client: ThemisClient,
    records: Iterator[dict[str, Any]],
    *,
    model: str,
    collection: str,
    key_field: str,
    batch_size: int,
    progress: Progress,
) -> ImportReport:
    """Write records in batches, each keyed by ``key_field`` (or a new uuid)."""
    report = ImportReport()
    task = progress.add_task(f"importing into {collection}", total=None)
    while batch := list(itertools.islice(records, batch_size)):
        docs = {_key_of(record, key_field, report): record for record in batch}
        result = client.batch_put(model, collection, docs)
        report.imported += len(result.succeeded)
        report.failed.update(result.failed)
        progress.update(task, advance=len(batch))
    return report


def _key_of(record: dict[str, Any], key_field: str, report: ImportReport) -> str:
    value = record.pop(key_field, None)
    if value is None:
        report.generated_keys += 1
        return uuid.uuid4().hex
    return str(value)


def progress_bar(console: Console) -> Progress:
    """The progress display of an import."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    )
