"""``events/schemas/``: one JSON Schema per event type and version, generated from the contracts.

The same documents are registered in the EventBridge schema registry by the template, so a consumer
in another team (or language) reads exactly what the platform validates against. Published versions
are never edited: a contract change is a new version (see ``hmskit.contracts``).
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMAS_DIR = "events/schemas"


def schema_filename(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def render_schemas(root: Path) -> dict[Path, str]:
    """Every schema file and its content, keyed by path under ``root``."""
    from hmskit.contracts import CONTRACTS, json_schema

    out: dict[Path, str] = {}
    for (event_type, version), model in sorted(CONTRACTS.items()):
        text = json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n"
        out[root / SCHEMAS_DIR / schema_filename(event_type, version)] = text
    return out


def stray_schemas(root: Path) -> list[Path]:
    """Files in ``events/schemas/`` that no contract produces (a removed or renamed contract)."""
    expected = set(render_schemas(root))
    folder = root / SCHEMAS_DIR
    return sorted(p for p in folder.glob("*.json") if p not in expected) if folder.is_dir() else []
