"""Each window serves exactly the routes its manifest declares (and nothing else)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from hms.model import Window, load_platform

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = load_platform(ROOT).windows


def served_routes(window: Window) -> set[tuple[str, str]]:
    if window.framework == "chalice":
        app = importlib.import_module(f"{window.name}.app").app
        return {(m, path) for path, entries in app.routes.items() for m in entries}
    handler = importlib.import_module(f"{window.name}.handler")
    return set(handler.app.route_table())


@pytest.mark.parametrize("window", [w for w in WINDOWS if not w.proxy], ids=lambda w: w.name)
def test_window_serves_exactly_its_manifest_routes(window: Window) -> None:
    declared = {(r.method, r.path) for r in window.routes}
    served = served_routes(window)
    assert served - declared == set(), f"{window.name} serves routes its manifest does not declare"
    assert declared - served == set(), f"{window.manifest_file} declares routes {window.name} does not serve"


def test_every_window_directory_has_a_manifest() -> None:
    with_code = {p.name for p in (ROOT / "functions").iterdir() if (p / p.name).is_dir()}
    assert with_code == {w.name for w in WINDOWS}
