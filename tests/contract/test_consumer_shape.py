"""Every consuming window in one shape: its ``consumers.py`` declares a handler for exactly the events
the topology subscribes it to, and only the platform (``hmskit.consumer``) reads the SQS envelope."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from hms.topology import load_topology

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = {p.name for p in (ROOT / "functions").iterdir() if (p / p.name).is_dir()}
TOPOLOGY = load_topology(ROOT, WINDOWS)
CONSUMERS = sorted(w for w in WINDOWS if TOPOLOGY.consumes(w))
#: What only an SQS envelope reader needs: the EventBridge detail-type, the SQS receive count.
ENVELOPE_WORDS = ("detail-type", "ApproximateReceiveCount", "bus_event_of")


def test_the_topology_has_consuming_windows() -> None:
    assert CONSUMERS  # the parametrised tests below would otherwise pass vacuously


@pytest.mark.parametrize("window", CONSUMERS)
def test_a_consuming_window_declares_its_handlers_in_its_consumers_module(window: str) -> None:
    consumers = importlib.import_module(f"{window}.consumers")

    handlers = consumers.handlers(deps=None)

    assert {s.event_type for s in TOPOLOGY.consumes(window)} == set(handlers)


@pytest.mark.parametrize("window", CONSUMERS)
def test_a_consuming_window_never_reads_the_sqs_envelope_itself(window: str) -> None:
    package = ROOT / "functions" / window / window
    readers = sorted(p.name for p in package.glob("*.py") if any(w in p.read_text() for w in ENVELOPE_WORDS))

    assert readers == []
