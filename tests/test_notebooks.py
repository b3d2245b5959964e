"""Every notebook in notebooks/ runs top to bottom without an error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel's own inline backend draws the figures into the outputs checked below.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    plots = [o for o in outputs if "image/png" in o.get("data", {})]
    assert plots, f"{path.name} should draw at least one plot"


def test_every_notebook_is_in_the_docs_site_and_run_as_it_is_built() -> None:
    # make docs copies notebooks/ into docs/notebooks/; mkdocs-jupyter runs each one.
    config = (Path(__file__).parent.parent / "mkdocs.yml").read_text()
    assert "- mkdocs-jupyter:\n      # " in config
    assert "      execute: true\n" in config
    assert "      allow_errors: false\n" in config
    for path in NOTEBOOKS:
        assert f": notebooks/{path.name}\n" in config, f"{path.name} is not in the docs nav"
