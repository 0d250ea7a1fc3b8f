"""A window's HTTP contract, declared: what ``functions/<w>/<w>/api_contract.py`` says about its routes.

Each window lists one ``Operation`` per manifest route in ``api_contract.OPERATIONS``, keyed by
``(method, path)`` exactly as ``routes/<w>.yaml`` writes them. ``hms template`` (``hms.openapi``, not
deployed) turns them, the manifests and the platform's common answers into ``docs/openapi.json``;
a test fails when the file drifts or a route has no operation.

Declarations only: nothing here imports pydantic. Request and response bodies are pydantic model
classes passed as values (or a hand-written ``Schema``); only the generator inspects them. A
window's handler never imports its ``api_contract``, so none of this reaches a cold start.

What the generator adds by itself, so a declaration never repeats it: security and scopes (from the
manifest), path parameters, the platform's error answers (401/403 from auth, 429 and the
``X-RateLimit-*`` headers from the rate limit, 400/413/415/422 for a body, 404 for a path with an
id, 400/409/422/503 for ``Idempotency-Key``, 500/502/503/504 for every route). ``errors`` adds what
only the route knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
FORM = "multipart/form-data"


@dataclass(frozen=True)
class Schema:
    """A hand-written JSON Schema (2020-12) and its component name, for a body no model describes."""

    name: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Header:
    """A response header of the success answer (``Location`` has its own field)."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = True


@dataclass(frozen=True)
class Operation:
    """One route of a window: its success answer and what only this route knows.

    ``request`` is the body's pydantic model: the JSON body, or for ``media_type=FORM`` every part of
    the form (a file part as ``bytes`` with a ``WithJsonSchema``); ``encoding`` then names the content
    types a part may have. ``examples`` are request bodies, published in the document and checked
    against both the schema and the model by the contract tests. ``query`` is a pydantic model whose
    flat fields are the query parameters; ``params`` describes path and query parameters by name.
    ``errors`` maps a status to what it means on this route, added to what the platform says about
    that status (a route that says what its 404 means replaces the generic "nothing with this id").
    """

    operation_id: str
    summary: str
    description: str = ""
    status: int = 200
    response: Any = None  # a pydantic model class, a Schema, or None (no body)
    response_description: str = ""
    request: Any = None  # a pydantic model class, or None (no body)
    media_type: str = JSON
    encoding: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[str, Any] = field(default_factory=dict)
    query: Any = None  # a pydantic model class, or None (no query parameters)
    params: Mapping[str, str] = field(default_factory=dict)  # path or query parameter -> description
    location: str | None = None  # the Location header of the success answer, described
    headers: Mapping[str, Header] = field(default_factory=dict)
    idempotent: bool = False  # honours Idempotency-Key (hmskit.http.WindowApp.idempotent)
    rate_limited: bool = True  # counted by the rate limit (a proxy manifest has no per-route flag)
    errors: Mapping[int, str] = field(default_factory=dict)


HEALTH = Schema(
    "Health",
    {
        "title": "Health",
        "type": "object",
        "description": "The window answers: its code is loaded and its handler runs.",
        "required": ["window", "status"],
        "properties": {
            "window": {"type": "string", "description": "the window's name"},
            "status": {"const": "ok", "type": "string"},
        },
    },
)


def health(window: str) -> Operation:
    """``GET /api/v1/<prefix>/health``: the same answer in every window, never rate limited."""
    return Operation(
        operation_id=f"{window}Health",
        summary=f"Health of the {window} window",
        description=(
            "Answers without touching storage and is not counted against the rate limit. It still "
            "goes through the JWT authorizer when the manifest says so."
        ),
        response=HEALTH,
        rate_limited=False,
    )


#: The ``next_cursor`` of every page model: ``next_cursor: str | None = Field(description=NEXT_CURSOR)``.
NEXT_CURSOR = "opaque; pass it as `cursor` for the next page; null on the last page"


def listing(operation_id: str, summary: str, *, items: str, query: Any, response: Any) -> Operation:
    """``GET`` of the caller's own ``items``, newest first, paged by ``limit`` and ``cursor``."""
    return Operation(
        operation_id=operation_id,
        summary=summary,
        description="Newest first, `limit` per page; follow `next_cursor` for the next page.",
        query=query,
        params={"limit": f"{items} per page", "cursor": "the `next_cursor` of the previous page"},
        response=response,
        errors={400: "`limit` is not 1 to 100, or `cursor` is not one this window issued."},
    )


def owned_item(
    operation_id: str, summary: str, *, item: str, response: Any, description: str = ""
) -> Operation:
    """``GET`` of one of the caller's own items by its id; another citizen's is 404 too."""
    return Operation(
        operation_id=operation_id,
        summary=summary,
        description=description,
        params={"id": f"the {item}'s id"},
        response=response,
        errors={404: f"No {item} with this id belongs to the caller (another citizen's is 404 too)."},
    )
