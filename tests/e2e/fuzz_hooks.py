"""schemathesis hooks for fuzzing ``docs/openapi.json`` against the local stack (``fuzz.py`` loads them).

What the document states in words because JSON Schema cannot, the hooks honour in positive cases,
so that "a request the document allows is accepted" is what the run checks:

- Citizens take turns: a token minted by the stack's dev issuer, with every scope the manifests use,
  for a fresh ``sub`` at each creating POST and after 20 requests. Rate limits and idempotency
  records are per citizen, so the 31st request in a minute (a documented 429) and a generated
  ``Idempotency-Key`` reused with another body (a documented 422) do not hide what is behind them.
  A request naming a resource created in the run goes as its creator (another citizen's is 404).
- A passport photo is a real JPEG of a size the photo rules allow (JPEG, colour, square, 600-1200
  px): JSON Schema cannot generate one. Every other part of the form stays as generated.
- An application's dates are put in the order the document states (born, then issued, not in the
  future; expiry after issue): JSON Schema cannot compare two fields.

Each answer's status is appended to ``HMS_FUZZ_STATUSES`` (one per line) for the run's figures.
"""

from __future__ import annotations

import json
import os
import random
import sys
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import schemathesis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: images
import images

REQUESTS_PER_CITIZEN = 20  # under every window's rate limit (30 a minute)
_citizens = count(1)
_keys = count(1)


class _Citizen:
    token = ""
    requests = 0
    creators: dict[str, str] = {}  # resource id -> the token that created it


def _positive_body(case: Any) -> bool:
    """The case is positive, and so is its body (the coverage phase may make one part invalid)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    body = next((c for loc, c in case.meta.components.items() if str(loc.value) == "body"), None)
    return body is None or not body.mode.is_negative


def _mint() -> str:
    from hms.local.devauth import DevIssuer

    scopes = os.environ["HMS_FUZZ_SCOPES"].split()
    sub = f"fuzz-{os.getpid()}-{next(_citizens)}"
    return DevIssuer(Path(os.environ["HMS_FUZZ_STATE"])).mint(sub, scopes, ttl=3600)


@schemathesis.auth(refresh_interval=None, retry_on=[])
class TakingTurns:
    def get(self, case: Any, ctx: Any) -> str:
        for value in (case.path_parameters or {}).values():
            if str(value) in _Citizen.creators:
                return _Citizen.creators[str(value)]
        creating = case.method.upper() == "POST" and "{" not in case.operation.path
        if not _Citizen.token or creating or _Citizen.requests >= REQUESTS_PER_CITIZEN:
            _Citizen.token, _Citizen.requests = _mint(), 0
        _Citizen.requests += 1
        return _Citizen.token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _iso(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _dates_in_order(body: dict[str, Any]) -> None:
    born, issued, expires = (
        _iso(body.get(k)) for k in ("date_of_birth", "passport_issued_on", "passport_expires_on")
    )
    if born is None or issued is None or expires is None:
        return
    today = date.today()
    born, issued = sorted((min(born, today), min(issued, today)))
    if expires <= issued:
        expires = issued + timedelta(days=1)
    body.update(date_of_birth=born.isoformat(), passport_issued_on=issued.isoformat())
    body["passport_expires_on"] = expires.isoformat()


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if not _positive_body(case) or not isinstance(case.body, dict):
        return
    operation = case.operation.definition.raw.get("operationId")
    # an empty file is the coverage phase's own "below minLength" probe, whatever its mode says
    if operation == "uploadDocument" and case.body.get("kind") == "photo" and case.body.get("file"):
        side = random.Random(next(_keys)).randint(600, 1200)
        case.body["file"] = images.jpeg(side, side)
        # schemathesis re-judges a body a hook edited, and any body holding bytes is "invalid" to it
        # (contains_binary): the photo stays the positive case it was generated as (4.32.5's API)
        case._sync_validated_hashes()
    if operation in ("checkEligibility", "submitRenewal"):
        _dates_in_order(case.body)


@schemathesis.serializer("application/pdf")
def pdf_bytes(ctx: Any, value: Any) -> dict[str, bytes]:
    """A body sent as the upload part's own type (a probe): its bytes as they are, text as UTF-8."""
    if isinstance(value, bytes):
        return {"data": value}
    return {"data": (value if isinstance(value, str) else json.dumps(value)).encode()}


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    if response.status_code in (201, 202):
        try:
            created = json.loads(response.content)
        except ValueError:
            created = None
        if isinstance(created, dict) and isinstance(created.get("id"), str):
            auth = (case.headers or {}).get("Authorization", "")
            _Citizen.creators[created["id"]] = auth.removeprefix("Bearer ")
    path = os.environ.get("HMS_FUZZ_STATUSES")
    if path:
        with open(path, "a", encoding="ascii") as out:
            out.write(f"{response.status_code} {case.method} {case.operation.path}\n")
