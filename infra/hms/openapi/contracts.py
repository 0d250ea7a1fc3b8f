"""Loading each window's declared HTTP contract (``<window>.api_contract``) and the project's version."""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hms.manifest import ManifestError, ManifestErrors
from hms.model import Platform, Window

CONTRACT = "api_contract"


@dataclass(frozen=True)
class WindowContract:
    """What a window's ``api_contract`` module declares."""

    operations: Mapping[Any, Any]
    description: str = ""
    file: str = ""  # relative to the project root, for error messages


def contract_file(window: Window) -> str:
    return f"{window.code_dir}/{window.name}/{CONTRACT}.py"


def _import_contract(platform: Platform, window: Window) -> Any:
    """``<window>.api_contract`` from this project's ``functions/<window>/`` (as /var/task in Lambda)."""
    code_dir = (platform.root / window.code_dir).resolve()
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    package = importlib.import_module(window.name)
    origin = Path(str(getattr(package, "__file__", "") or "")).resolve().parent
    if origin != code_dir / window.name:
        raise ImportError(f"the package {window.name!r} is already imported from {origin}, not {code_dir}")
    return importlib.import_module(f"{window.name}.{CONTRACT}")


def load_contracts(platform: Platform) -> dict[str, WindowContract]:
    """Every window's declared contract; ``ManifestErrors`` naming each window that has none."""
    errors: list[ManifestError] = []
    out: dict[str, WindowContract] = {}
    for w in platform.windows:
        file = contract_file(w)
        if not (platform.root / file).is_file():
            errors.append(
                ManifestError(
                    file,
                    "(file)",
                    f"missing: every window declares its HTTP contract, OPERATIONS = "
                    f"{{(method, path): hmskit.apidoc.Operation(...)}} for each route of {w.manifest_file}",
                )
            )
            continue
        try:
            module = _import_contract(platform, w)
        except Exception as exc:
            errors.append(ManifestError(file, "(import)", f"{type(exc).__name__}: {exc}"))
            continue
        operations = getattr(module, "OPERATIONS", None)
        if not isinstance(operations, Mapping):
            errors.append(ManifestError(file, "OPERATIONS", "expected a dict {(method, path): Operation}"))
            continue
        description = getattr(module, "DESCRIPTION", "")
        out[w.name] = WindowContract(operations, description if isinstance(description, str) else "", file)
    if errors:
        raise ManifestErrors(errors)
    return out


def project_version(root: Path) -> str:
    """``[project] version`` of the project's ``pyproject.toml`` (else the installed distribution's)."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        version = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("version")
        if isinstance(version, str):
            return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hms-windows")
    except PackageNotFoundError:
        return "0.0.0"
