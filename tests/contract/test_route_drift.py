"""Each window serves exactly the routes its manifest declares, and every property that two of the
three declarations both state agrees: the manifest (``routes/*.yaml``), the route decorators (the
served route table) and ``api_contract.OPERATIONS``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest

from hms.model import Window, load_platform
from hmskit.apidoc import Operation
from hmskit.chalice import ChaliceWindow
from hmskit.webcore import RouteSpec, WindowCore

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = load_platform(ROOT).windows
ROUTED = [w for w in WINDOWS if not w.proxy]

Key = tuple[str, str]
# A side's name (a file, for the message) -> route -> property -> value.
Sides = Mapping[str, Mapping[Key, Mapping[str, object]]]


def entry_module(window: Window) -> str:
    return f"{window.name}.app" if window.framework == "chalice" else f"{window.name}.handler"


def served_app(window: Window) -> WindowCore:
    module = importlib.import_module(entry_module(window))
    return next(v for v in vars(module).values() if isinstance(v, WindowCore))


def manifest_file(window: Window, path: str) -> str:
    """The manifest that declares ``path`` (a window may have one per contract version)."""
    for file in sorted((ROOT / "routes").glob(f"{window.name}*.yaml")):
        text = file.read_text()
        if f"path: {path}," in text or f'path: "{path}"' in text:
            return f"routes/{file.name}"
    return window.manifest_file


def served_properties(spec: RouteSpec) -> dict[str, object]:
    declared: dict[str, object] = {"rate_limited": spec.rate_limited}
    if spec.idempotent is not None:
        declared["idempotent"] = spec.idempotent
    return declared


def contract_properties(op: Operation) -> dict[str, object]:
    return {"rate_limited": op.rate_limited, "idempotent": op.idempotent}


def sides_of(window: Window, specs: list[RouteSpec]) -> dict[str, dict[Key, dict[str, object]]]:
    code = f"functions/{window.name}/{entry_module(window).replace('.', '/')}.py"
    contract = importlib.import_module(f"{window.name}.api_contract").OPERATIONS
    manifest: dict[str, dict[Key, dict[str, object]]] = {}
    for r in window.routes:
        props = {"rate_limited": r.rate_limited, "scopes": r.scopes, "authorized": r.authorized}
        manifest.setdefault(manifest_file(window, r.path), {})[(r.method, r.path)] = props
    return {
        **manifest,
        code: {(s.method, s.path): served_properties(s) for s in specs},
        f"functions/{window.name}/{window.name}/api_contract.py": {
            key: contract_properties(op) for key, op in contract.items()
        },
    }


def disagreements(window: str, sides: Sides) -> list[str]:
    """Every property two sides both declare for a route, and declare differently."""
    found = []
    for (a, a_routes), (b, b_routes) in combinations(sides.items(), 2):
        for key in sorted(a_routes.keys() & b_routes.keys()):
            for prop in sorted(a_routes[key].keys() & b_routes[key].keys()):
                if a_routes[key][prop] != b_routes[key][prop]:
                    found.append(
                        f"{window}: {key[0]} {key[1]}: {prop} is {a_routes[key][prop]!r} in {a} "
                        f"but {b_routes[key][prop]!r} in {b}"
                    )
    return found


@pytest.mark.parametrize("window", ROUTED, ids=lambda w: w.name)
def test_window_serves_exactly_its_manifest_routes(window: Window) -> None:
    declared = {(r.method, r.path) for r in window.routes}
    served = set(served_app(window).route_table())
    assert served - declared == set(), f"{window.name} serves routes its manifest does not declare"
    assert declared - served == set(), f"{window.manifest_file} declares routes {window.name} does not serve"


@pytest.mark.parametrize("window", ROUTED, ids=lambda w: w.name)
def test_every_property_both_sides_declare_agrees(window: Window) -> None:
    problems = disagreements(window.name, sides_of(window, served_app(window).route_specs()))
    assert problems == [], "\n".join(problems)


def test_chalice_routes_exactly_what_its_window_declares() -> None:
    for window in (w for w in ROUTED if w.framework == "chalice"):
        app = served_app(window)
        assert isinstance(app, ChaliceWindow)
        routed = {(m, path) for path, entries in app.app.routes.items() for m in entries}
        assert routed == set(app.route_table()), window.name


def test_a_disagreement_names_the_window_the_route_and_the_property() -> None:
    window = next(w for w in ROUTED if w.name == "payments")
    specs = [
        replace(s, rate_limited=True) if s.path.endswith("/health") else s
        for s in served_app(window).route_specs()
    ]
    specs = [replace(s, idempotent=False) if s.method == "POST" else s for s in specs]

    problems = disagreements(window.name, sides_of(window, specs))

    assert (
        "payments: GET /api/v1/payments/health: rate_limited is False in routes/payments.yaml "
        "but True in functions/payments/payments/handler.py"
    ) in problems
    assert (
        "payments: POST /api/v2/payments: idempotent is False in functions/payments/payments/handler.py "
        "but True in functions/payments/payments/api_contract.py"
    ) in problems


def test_every_window_directory_has_a_manifest() -> None:
    with_code = {p.name for p in (ROOT / "functions").iterdir() if (p / p.name).is_dir()}
    assert with_code == {w.name for w in WINDOWS}
