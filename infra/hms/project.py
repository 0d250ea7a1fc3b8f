"""Where the project is: shared by ``hms`` and the local runtime's commands."""

from __future__ import annotations

from pathlib import Path


def find_root(start: Path) -> Path:
    """The project root: the nearest directory holding ``routes/`` and ``functions/``."""
    for candidate in (start, *start.parents):
        if (candidate / "routes").is_dir() and (candidate / "functions").is_dir():
            return candidate
    raise SystemExit(f"hms: no HMS project here: no routes/ and functions/ in {start} or above")
