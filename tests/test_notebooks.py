"""The example notebooks run from top to bottom and show the expected results."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _outputs(notebook: nbformat.NotebookNode) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("data", {}).get("text/plain", ""))
    return texts


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_runs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = _outputs(notebook)
    assert "'healthy'" in outputs
    assert "(['alice', 'bob'], ['nobody'])" in outputs
    assert any("'Carol'" in text and "'Bob'" in text for text in outputs)
    assert "['a', 'b']" in outputs
