"""What the guide and the notebooks use is public: exported, in ``__all__`` and documented.

A reader copies what the docs and notebooks do; so they import only public modules (no
``rx_backpressure.core``, nothing with a leading underscore), and every ``rx_backpressure``
name the extending guide and the notebooks use has an entry in the API reference.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parent.parent.parent
REFERENCE = "\n".join(page.read_text() for page in (ROOT / "docs" / "reference").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
IMPORT = re.compile(
    r"^\s*(?:from\s+(rx_backpressure[\w.]*)\s+import|import\s+(rx_backpressure[\w.]*))", re.M
)
USED = re.compile(r"\bbp\.(\w+)")
FROM = re.compile(r"from (rx_backpressure(?:\.\w+)?) import \(?([\w, ]+)")


def _code(path: Path) -> str:
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))


@pytest.mark.parametrize("path", [*PAGES, *NOTEBOOKS], ids=lambda p: p.name)
def test_imports_only_public_modules(path: Path) -> None:
    for match in IMPORT.finditer(_code(path)):
        module = match.group(1) or match.group(2)
        parts = module.split(".")
        assert not any(part.startswith("_") for part in parts), module
        assert module != "rx_backpressure.core", f"{path.name} imports {module}"


@pytest.mark.parametrize("path", [ROOT / "docs" / "extending.md", *NOTEBOOKS], ids=lambda p: p.name)
def test_every_name_used_is_exported_and_documented(path: Path) -> None:
    code = _code(path)
    used = {("rx_backpressure", name) for name in USED.findall(code)}
    for module, names in FROM.findall(code):
        used.update((module, name.strip()) for name in names.split(",") if name.strip())
    assert used
    for module, name in sorted(used):
        exported = importlib.import_module(module).__all__
        assert name in exported, f"{path.name} uses {module}.{name}, which is not exported"
        assert f"::: {module}.{name}\n" in REFERENCE + "\n", f"{module}.{name} is not documented"
