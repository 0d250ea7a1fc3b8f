"""``docs/openapi.json``: the OpenAPI 3.1 document of the whole HTTP API, generated.

Three sources, so the document cannot disagree with what runs:

- the platform model (``routes/*.yaml``): every path and method, its scopes (any-of), whether it is
  public or rate limited, the window's timeout;
- each window's ``api_contract.OPERATIONS`` (``hmskit.apidoc``): request bodies (the window's own
  pydantic models), the success status, body and headers, and the errors only the route knows;
- the platform's common answers (``common``, static data): problem+json errors, the JWT scheme,
  ``Idempotency-Key``, the rate-limit headers.

A pipeline on plain dicts: ``contracts.load_contracts`` (imports each window's ``api_contract``) ->
``builder.build_document`` -> ``render_openapi`` (JSON, keys sorted, lists in manifest order), so a test can
regenerate and compare. Every problem (a route without an operation, an operation without a route,
a bad declaration) is collected and raised at once as ``ManifestErrors``: nothing is generated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hms.model import Platform
from hms.openapi.builder import build_document, documented_routes
from hms.openapi.common import ANY_METHOD, OPENAPI_FILE, SCHEME
from hms.openapi.contracts import WindowContract, contract_file, load_contracts, project_version

__all__ = [
    "ANY_METHOD",
    "OPENAPI_FILE",
    "SCHEME",
    "WindowContract",
    "build_document",
    "contract_file",
    "documented_routes",
    "dumps",
    "load_contracts",
    "project_version",
    "render_openapi",
]


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def render_openapi(platform: Platform) -> dict[Path, str]:
    """``docs/openapi.json`` and its content, from the platform and the windows' contracts."""
    document = build_document(platform, load_contracts(platform), version=project_version(platform.root))
    return {platform.root / OPENAPI_FILE: dumps(document)}
