"""The e2e fixture: ``make run`` stacks, each in a fresh copy of the checkout (see stack.py)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stacks


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[Stacks]:
    started = Stacks(tmp_path)
    try:
        yield started
    finally:
        started.close()
