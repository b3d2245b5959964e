"""The public names: complete, sorted and typed."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import rx_backpressure

PACKAGES = ["rx_backpressure", "rx_backpressure.testing"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    public = {
        n for n, v in vars(module).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public == set(exported)


def test_py_typed_ships_with_the_package() -> None:
    assert (Path(rx_backpressure.__file__).parent / "py.typed").exists()


def test_unbounded_is_two_to_the_sixty_three_minus_one() -> None:
    assert rx_backpressure.UNBOUNDED == 2**63 - 1
