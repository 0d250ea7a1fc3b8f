"""Request bodies as JSON, with a bound on nesting that every window shares.

Python's ``json`` recurses once per level and raises ``RecursionError`` (not ``ValueError``) near
1,000 levels, so a 4 KB body of ``[`` answered 500. No window's contract nests more than a few
levels, so anything deeper than ``MAX_DEPTH`` is refused as malformed (400) before it is parsed:
the same answer from every window, Powertools or Chalice, whatever parser follows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hmskit.problems import MalformedJSONError, validation_problem

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_DEPTH = 32
FORM_URLENCODED = "application/x-www-form-urlencoded"

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_OPENERS = frozenset(b"[{")


def depth_exceeds(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests arrays and objects more than ``limit`` deep.

    Brackets inside strings do not count. Costs two ``bytes.count`` calls for any body with fewer
    than ``limit`` brackets (nearly all), a C-speed scan otherwise.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', data)):
        if bracket[0] in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """``MalformedJSONError`` (400) when ``data`` nests deeper than ``limit``."""
    if depth_exceeds(data, limit):
        raise MalformedJSONError(
            f"request body is not acceptable JSON: it nests arrays or objects more than {limit} levels deep"
        )


def loads(data: bytes, limit: int = MAX_DEPTH) -> Any:
    """The JSON value of ``data`` (numbers with a fraction as ``Decimal``), or ``MalformedJSONError``."""
    check_depth(data, limit)
    try:
        return json.loads(data, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedJSONError(f"request body is not valid JSON: {exc}") from exc


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";")[0].strip().lower()


def is_json_request(content_type: str | None, body: Callable[[], bytes]) -> bool:
    """Whether a request body is to be read as JSON: ``application/json`` or ``*+json``; or curl's
    default for ``-d`` (``application/x-www-form-urlencoded``) when the body is a JSON object, which
    no urlencoded form is (a form encodes ``{`` as ``%7B``). ``body`` is read only in that case."""
    ctype = media_type(content_type)
    if ctype == "application/json" or ctype.endswith("+json"):
        return True
    return ctype == FORM_URLENCODED and body().lstrip()[:1] == b"{"


def validate[M: BaseModel](model: type[M], data: bytes) -> M:
    """``data`` parsed by ``loads`` (fractions as ``Decimal``), then validated as ``model``: 400 or 422."""
    parsed = loads(data)
    from pydantic import ValidationError  # already loaded: ``model`` is a pydantic model

    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        raise validation_problem(exc.errors()) from exc


def validate_text[M: BaseModel](model: type[M], data: bytes) -> M:
    """``data`` validated as ``model`` from its JSON text: 400 (malformed) or 422.

    From the text (``model_validate_json``), a strict model reads JSON as JSON: ISO date strings are
    dates, and nothing is coerced.
    """
    check_depth(data)
    from pydantic import ValidationError

    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors()
        malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            raise MalformedJSONError(f"request body is not valid JSON: {malformed['msg']}") from exc
        raise validation_problem(errors) from exc
