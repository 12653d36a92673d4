"""The release artefacts: what the wheel holds and what it requires."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_package_and_passes_twine(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
    subprocess.run([*build, "--outdir", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("themis-*.whl")
    twine = [sys.executable, "-m", "twine", "check", "--strict", str(wheel)]
    subprocess.run(twine, check=True)

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith("dist-info/METADATA"))
        text = archive.read(metadata).decode()
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt"))

    assert {"themis/py.typed", "themis/aql/grammar.lark", "themis/client.py"} <= names
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    assert b"themis = themis.cli:main" in entry_points
    plain = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(plain) == ["httpx[http2]<1,>=0.27", "orjson<4,>=3.10"]
