"""The local stack fixture for the end-to-end tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_support import Stack, copy_project, start_stack, stop_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_project(tmp_path_factory.mktemp("project"))
    s = start_stack(root)
    try:
        yield s
    finally:
        stop_stack(s)
