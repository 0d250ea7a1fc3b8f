"""Every window in one shape: a publishing window builds its event contracts in its events.py only."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLISHERS = ("payments", "documents", "passport")


@pytest.mark.parametrize("window", PUBLISHERS)
def test_a_publishing_window_imports_the_event_contracts_in_its_events_module_only(window: str) -> None:
    package = ROOT / "functions" / window / window
    importers = sorted(p.name for p in package.glob("*.py") if "hmskit.contracts" in p.read_text())

    assert importers == ["events.py"]
