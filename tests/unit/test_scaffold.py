"""`hms new window NAME`: what it refuses (taken, not a package name, a colliding prefix) and writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hms.cli import main
from hms.scaffold import ScaffoldError, WindowSpec, create_window, render

MANIFEST = "uri: /api/v1/docs/**\nupstream: http://hms-svc-documents:8080\nplugins: [auth]\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pkg = tmp_path / "functions" / "documents" / "documents"
    pkg.mkdir(parents=True)
    (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "documents.yaml").write_text(MANIFEST)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("documents", "taken: functions/documents/ exists"),
        ("Permits", "not a valid window name"),
        ("per-mits", "not a valid window name"),
        ("p", "not a valid window name"),
        ("9lives", "not a valid window name"),
        ("class", "a Python keyword"),
        ("json", "shadow the module 'json'"),
        ("platform", "shadow the module 'platform'"),
        ("hmskit", "shadow the module 'hmskit'"),
        ("docs", "the prefix /api/v1/docs/** collides with /api/v1/docs/** in routes/documents.yaml"),
    ],
)
def test_a_taken_invalid_or_colliding_name_is_refused(project: Path, name: str, reason: str) -> None:
    with pytest.raises(ScaffoldError) as info:
        create_window(project, WindowSpec(name))

    assert reason in str(info.value)
    assert not (project / "functions" / name).exists() or name == "documents"


def test_a_name_another_manifest_already_routes_to_is_taken(project: Path) -> None:
    (project / "routes" / "documents.yaml").write_text(MANIFEST.replace("documents:8080", "permits:8080"))

    with pytest.raises(ScaffoldError, match=r"routes/documents\.yaml names it as its upstream"):
        create_window(project, WindowSpec("permits"))


def test_the_cli_refuses_with_the_reason_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(project), "new", "window", "docs"]) == 2
    assert "collides with /api/v1/docs/**" in capsys.readouterr().err


@pytest.mark.parametrize("framework", ["powertools", "chalice"])
@pytest.mark.parametrize("table", [False, True])
def test_the_window_has_the_project_s_shape(framework: str, table: bool) -> None:
    files = render(WindowSpec("permits", framework=framework, table=table, bucket=True))

    entry = "app.py" if framework == "chalice" else "handler.py"
    package = {
        "__init__.py",
        entry,
        "domain.py",
        "adapters.py",
        "bootstrap.py",
        "models.py",
        "api_contract.py",
    }
    assert {p.rsplit("/", 1)[1] for p in files if p.startswith("functions/permits/permits/")} == package
    assert "tests/unit/test_permits_window.py" in files
    assert ("tests/integration/test_permits_table.py" in files) is table
    assert ("functions/permits/Makefile" in files) is (framework == "chalice")
    manifest = files["routes/permits.yaml"]
    assert manifest.startswith("# The permits window") and "uri: /api/v1/permits/**" in manifest
    assert "path: /api/v1/permits/health, scopes: [], rate_limited: false" in manifest
    assert f"framework: {framework}, bucket: true" in manifest
