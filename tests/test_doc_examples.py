"""The Python examples in the README and the docs run as written.

Each fenced ``python`` block is executed in a fresh namespace (blocks of one page share
nothing); functions named ``test_*`` that a block defines are called too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for index, code in enumerate(BLOCK.findall(page.read_text())):
            found.append((f"{page.relative_to(ROOT)}#{index}", code))
    return found


BLOCKS = _blocks()


def test_the_readme_has_an_example() -> None:
    assert any(name.startswith("README.md") for name, _ in BLOCKS)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_example_runs(name: str, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"example_{name}"}
    exec(compile(code, name, "exec"), namespace)
    for key, value in list(namespace.items()):
        if key.startswith("test_") and callable(value):
            value()
