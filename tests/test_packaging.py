"""The package as a user gets it: a wheel built from the tree, installed in a clean venv.

The README's install line is what this does (``pip wheel``, then ``pip install`` of the
wheel); its Python examples then run against the installed wheel, away from the source
tree, so nothing they need is missing from the package.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
EXTRAS = ("rx_backpressure.kafka", "matplotlib")
"""Imports that need an optional extra: examples using them are run by the doc tests."""


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel, and the python of a fresh venv with it installed."""
    where = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", where, cwd=where)
    [wheel] = where.glob("rx_backpressure-*.whl")
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    python = where / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, cwd=where)
    return wheel, python


def test_the_wheel_ships_the_license_and_the_type_marker(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "rx_backpressure/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names


def test_the_installed_wheel_needs_only_reactivex(installed: tuple[Path, Path]) -> None:
    _, python = installed
    listed = run(
        python,
        "-c",
        "import importlib.metadata as m, json; print(json.dumps(m.requires('rx-backpressure')))",
        cwd=ROOT,
    )
    core = [item for item in json.loads(listed) if "extra ==" not in item]
    assert len(core) == 1
    assert core[0].startswith("reactivex")


@pytest.mark.parametrize(
    "code",
    [
        code
        for code in BLOCK.findall((ROOT / "README.md").read_text())
        if not any(extra in code for extra in EXTRAS)
    ],
)
def test_a_readme_example_runs_against_the_installed_wheel(
    installed: tuple[Path, Path], code: str, tmp_path: Path
) -> None:
    _, python = installed
    script = tmp_path / "example.py"
    script.write_text(code)
    run(python, script, cwd=tmp_path)  # not the source tree: only the wheel is importable
