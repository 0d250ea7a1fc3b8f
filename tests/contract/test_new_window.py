"""`hms new window` in a copy of the project: right after it (and `hms template`), its own tests, the
route drift test and `hms template --check` pass, and its code is ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

DRIFT = "tests/contract/test_route_drift.py"


def project_copy(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".hms", "node_modules")
    for part in ("routes", "functions", "layers", "events", "docs"):
        shutil.copytree(ROOT / part, dest / part, ignore=ignore)
    (dest / "tests").mkdir()
    for part in ("conftest.py", "helpers.py", "images.py"):
        shutil.copy(ROOT / "tests" / part, dest / "tests" / part)
    shutil.copytree(ROOT / "tests" / "contract", dest / "tests" / "contract", ignore=ignore)
    shutil.copytree(ROOT / "tests" / "support", dest / "tests" / "support", ignore=ignore)
    for part in ("pyproject.toml", "template.yaml"):
        shutil.copy(ROOT / part, dest / part)
    return dest


def hms(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hms.cli", *args], cwd=root, capture_output=True, text=True)


@pytest.mark.parametrize(
    "flags",
    [(), ("--framework", "chalice", "--table", "--bucket")],
    ids=["powertools", "chalice-table-bucket"],
)
def test_a_new_window_passes_its_tests_and_the_template_check(tmp_path: Path, flags: tuple[str, ...]) -> None:
    root = project_copy(tmp_path)

    created = hms(root, "new", "window", "permits", *flags)
    assert created.returncode == 0, created.stderr
    assert hms(root, "template").returncode == 0
    check = hms(root, "template", "--check")
    assert check.returncode == 0, check.stdout + check.stderr

    tests = [str(p.relative_to(root)) for p in sorted((root / "tests").rglob("test_permits_*.py"))]
    assert tests
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, DRIFT],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "functions/permits", *tests],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
