"""What the local gateway serves besides the windows' routes: the citizen portal and the dev sign-in.

* ``/`` and ``/assets/*``: the portal's build output (``web/dist/``, made by ``make web``), with the
  security headers CloudFront adds in AWS (a CSP without inline scripts, frame-ancestors none);
* ``/portal-config.json``: where the portal signs in (this gateway's OpenID Connect provider);
* the dev issuer's OpenID Connect endpoints (``hms.local.devauth.OidcProvider``).

The gateway asks ``handles(method, path)`` only for requests no manifest route matched, so a window
route always wins and an unknown ``/api/...`` path stays a 404 problem.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hms.local.devauth import (
    AUTHORIZE_PATH,
    IDENTITY_SCOPES,
    PORTAL_CLIENT_ID,
    TOKEN_PATH,
    Answer,
    DevIssuer,
    OidcProvider,
)

CONFIG_PATH = "/portal-config.json"
# The same policy as the CloudFront response headers policy of the template (hms.template).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_MISSING = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portal not built</title></head>'
    "<body><main><h1>The portal is not built yet</h1><p>Run <code>make web</code> (npm ci and the esbuild "
    "build into <code>web/dist/</code>), then reload this page.</p></main></body></html>"
)


class LocalSite:
    """The portal's static files and the dev sign-in, served by the local gateway."""

    def __init__(self, dist: Path, oidc: OidcProvider) -> None:
        self.dist = Path(dist)
        self.oidc = oidc

    @classmethod
    def for_platform(cls, root: Path, issuer: DevIssuer, platform: Any) -> LocalSite:
        scopes = {s for w in platform.windows for r in w.routes for s in r.scopes}
        return cls(Path(root) / "web" / "dist", OidcProvider(issuer, api_scopes=scopes))

    def handles(self, method: str, path: str) -> bool:
        if self.oidc.handles(method, path):
            return True
        return method in ("GET", "HEAD") and not path.startswith("/api/")

    def respond(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        base_url: str,
    ) -> Answer | None:
        """The answer, or None when there is nothing here (the gateway answers its 404)."""
        if self.oidc.handles(method, path):
            content_type = next((v for k, v in headers if k == "content-type"), "")
            answer = self.oidc.respond(method, path, query, content_type, body, base_url)
            return _secured(answer)
        if path == CONFIG_PATH:
            return _secured(self._config(base_url))
        return self._static(path)

    def _config(self, base_url: str) -> Answer:
        import json

        scopes = [*IDENTITY_SCOPES, *(s for s in self.oidc.scopes_supported if s not in IDENTITY_SCOPES)]
        config = {
            "issuer": self.oidc.issuer.issuer,
            "authorization_endpoint": base_url + AUTHORIZE_PATH,
            "token_endpoint": base_url + TOKEN_PATH,
            "client_id": PORTAL_CLIENT_ID,
            "redirect_uri": base_url + "/",
            "scopes": scopes,
        }
        return Answer(
            200,
            (("content-type", "application/json"), ("cache-control", "no-store")),
            json.dumps(config).encode(),
        )

    def _static(self, path: str) -> Answer | None:
        rel = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if not rel or "\\" in rel or any(part in ("", ".", "..") for part in rel.split("/")):
            return None
        root = self.dist.resolve()
        file = (root / rel).resolve()
        if not file.is_relative_to(root) or not file.is_file():
            if rel == "index.html":
                return _secured(
                    Answer(200, (("content-type", "text/html; charset=utf-8"),), _MISSING.encode())
                )
            return None
        kind = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        # hashed asset names never change content; the page itself is always revalidated
        cache = "no-cache" if rel == "index.html" else "public, max-age=31536000, immutable"
        return _secured(Answer(200, (("content-type", kind), ("cache-control", cache)), file.read_bytes()))


def _secured(answer: Answer) -> Answer:
    return Answer(answer.status, (*answer.headers, *SECURITY_HEADERS), answer.body)
