"""The principal: who is calling, read only from the verified authorizer context.

API Gateway's JWT authorizer verifies the bearer token and hands its claims to the window in
``requestContext.authorizer.jwt`` (HTTP API, payload 2.0) or flat in ``requestContext.authorizer``
(``claims``/``scopes``, payload 1.0 as REST APIs do). That is the only source of identity. Headers such as ``x-hms-user`` are never read: a client can send anything in a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class AuthError(Exception):
    """The event carries no verified principal."""


@dataclass(frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def email(self) -> str | None:
        """The token's ``email`` claim when it is a usable address the issuer has not marked
        unverified (``email_verified`` false); else ``None``. Never trust it for identity: ``sub``
        is the identity."""
        value = self.claims.get("email")
        if not isinstance(value, str) or not (3 <= len(value) <= 254) or not _EMAIL.fullmatch(value):
            return None
        verified = self.claims.get("email_verified")
        if verified is False or (isinstance(verified, str) and verified.lower() == "false"):
            return None
        return value


def _jwt_context(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ctx = event.get("requestContext") or {}
    authorizer = ctx.get("authorizer") or {}
    if not isinstance(authorizer, Mapping):
        return None
    jwt = authorizer.get("jwt")
    if isinstance(jwt, Mapping):
        return jwt  # payload 2.0
    if isinstance(authorizer.get("claims"), Mapping):
        return authorizer  # payload 1.0: {"claims": {...}, "scopes": [...]}
    return None


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    """The verified principal of an HTTP API event, or ``AuthError``."""
    jwt = _jwt_context(event)
    if jwt is None:
        raise AuthError("the request carries no verified identity (no JWT authorizer context)")
    claims = jwt.get("claims") or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("the verified token has no 'sub' claim")
    scopes = jwt.get("scopes")
    if not scopes:
        raw = claims.get("scope") or claims.get("scp") or ""
        # API Gateway flattens array claims to "[a b]"
        scopes = raw.strip("[]").split() if isinstance(raw, str) else list(raw)
    return Principal(sub=sub, scopes=frozenset(str(s) for s in scopes), claims=dict(claims))


def rate_limit_key(event: Mapping[str, Any]) -> str:
    """Who a rate limit counts: the token's ``sub``, else the client IP."""
    try:
        return "sub:" + principal_from_event(event).sub
    except AuthError:
        ctx = event.get("requestContext") or {}
        ip = (ctx.get("http") or {}).get("sourceIp") or (ctx.get("identity") or {}).get("sourceIp")
        return "ip:" + str(ip or "unknown")
