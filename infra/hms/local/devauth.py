"""The local dev issuer: an RSA key kept under the state dir, a JWKS, token minting and verification,
and a small OpenID Connect provider (discovery, an authorization page, code + PKCE) for the portal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_ISSUER = "http://127.0.0.1:3000/dev-issuer"
DEFAULT_AUDIENCE = "hms-local"
LEEWAY_SECONDS = 5
_RESERVED = frozenset({"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "scope"})


class TokenError(Exception):
    """A token was refused; ``reason`` is short and safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64u_uint(n: int) -> str:
    return _b64u(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` created with mode 0600 (atomically: a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class DevIssuer:
    """Mints and verifies RS256 tokens for the local stack.

    The key pair is generated on first use under ``state_dir/dev-issuer/`` and reused afterwards, so
    tokens minted by ``hms token`` stay valid across restarts of ``hms up``.
    """

    def __init__(
        self,
        state_dir: Path,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        *,
        clock: Any = time.time,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.issuer = issuer
        self.audience = audience
        self._clock = clock
        self._private: rsa.RSAPrivateKey | None = None
        self._public: rsa.RSAPublicKey | None = None
        self._kid = ""
        self._jwk: dict[str, str] = {}

    @property
    def key_path(self) -> Path:
        return self.state_dir / "dev-issuer" / "private.pem"

    def _load(self) -> rsa.RSAPrivateKey:
        if self._private is not None:
            return self._private
        path = self.key_path
        key: rsa.RSAPrivateKey
        if path.is_file():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise TokenError(f"{path} holds no RSA private key")
            key = loaded
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(path, pem)
        public = key.public_key()
        nums = public.public_numbers()
        e, n = _b64u_uint(nums.e), _b64u_uint(nums.n)
        # RFC 7638: the required members in lexicographic order, no whitespace
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
        self._kid = _b64u(hashlib.sha256(canonical.encode()).digest())
        self._jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid, "n": n, "e": e}
        self._private, self._public = key, public
        return key

    @property
    def kid(self) -> str:
        self._load()
        return self._kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document (``{"keys": [...]}``) to publish at ``<issuer>/.well-known/jwks.json``."""
        self._load()
        return {"keys": [dict(self._jwk)]}

    def mint(
        self,
        sub: str,
        scopes: Iterable[str] = (),
        ttl: int = 3600,
        extra_claims: Mapping[str, Any] | None = None,
        *,
        audience: str | None = None,
    ) -> str:
        """A signed RS256 token for ``sub`` with the space-separated ``scope`` claim (none when no
        scopes and an ``audience`` is given: an ID token for that client)."""
        key = self._load()
        now = int(self._clock())
        claims: dict[str, Any] = dict(extra_claims or {})
        claims.update(
            {
                "iss": self.issuer,
                "aud": audience or self.audience,
                "sub": sub,
                "iat": now,
                "nbf": now,
                "exp": now + int(ttl),
                "jti": uuid.uuid4().hex,
                "scope": " ".join(scopes),
            }
        )
        if audience is not None and not claims["scope"]:
            del claims["scope"]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self._kid})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``TokenError`` naming why it was refused."""
        self._load()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != "RS256":
            raise TokenError("unsupported algorithm")
        kid = header.get("kid")
        if kid is not None and kid != self._kid:
            raise TokenError("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("wrong issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"missing claim {exc.claim!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad signature") from exc
        except jwt.DecodeError as exc:
            raise TokenError("malformed token") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        return claims


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a token grants (``scope`` space-separated, or a ``scp`` list)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return tuple(s for s in raw.split() if s)
    if isinstance(raw, list):
        return tuple(str(s) for s in raw)
    return ()


# -- the local OpenID Connect provider ----------------------------------------------------------------
# Authorization code + PKCE (S256 only) for public clients, as RFC 6749, RFC 7636 and OpenID Connect
# Core describe it; the tokens are the dev issuer's, so the gateway verifies them like `hms token`'s.

AUTHORIZE_PATH = "/dev-issuer/authorize"
TOKEN_PATH = "/dev-issuer/token"
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/dev-issuer/.well-known/openid-configuration")
STYLE_PATH = "/dev-issuer/style.css"
PORTAL_CLIENT_ID = "hms-portal"
IDENTITY_SCOPES = ("openid", "profile", "email")
CODE_TTL_SECONDS = 60  # RFC 6749 recommends at most 10 minutes; a browser redirect takes a second
REQUEST_TTL_SECONDS = 600  # how long the authorization page may stay open
MAX_PENDING = 1000  # requests and codes kept at most (the oldest go first)

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 section 4.1
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # BASE64URL(SHA256(verifier)), unpadded
_SUB = re.compile(r"[A-Za-z0-9._@+\-]{1,128}")
_MAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))


@dataclass(frozen=True)
class OidcClient:
    """A registered public client: redirect URIs are compared exactly (RFC 9700 section 2.1).

    ``redirect_paths`` are on the provider's own origin (the portal is served by the same gateway,
    whatever its port); ``redirect_uris`` are absolute.
    """

    client_id: str
    redirect_paths: tuple[str, ...] = ("/",)
    redirect_uris: tuple[str, ...] = ()

    def allows(self, redirect_uri: str, origin: str) -> bool:
        return redirect_uri in self.redirect_uris or any(
            redirect_uri == origin + path for path in self.redirect_paths
        )


@dataclass(frozen=True)
class TestCitizen:
    sub: str
    name: str
    email: str


TEST_CITIZENS = (
    TestCitizen("ada", "Ada Lovelace", "ada@example.org"),
    TestCitizen("grace", "Grace Hopper", "grace@example.org"),
    TestCitizen("alan", "Alan Turing", "alan@example.org"),
)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the provider: status, headers (lower-case names), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass(frozen=True)
class _Request:
    """A validated authorization request, waiting for the developer's decision."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    expires: float


@dataclass(frozen=True)
class _Grant:
    """What an authorization code stands for, until it is redeemed once."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    citizen: TestCitizen
    nonce: str | None
    auth_time: int
    expires: float


class _AuthorizeError(Exception):
    """An authorization request error sent back to the client's redirect URI (RFC 6749 4.1.2.1)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class OidcProvider:
    """The dev issuer as an OpenID Connect provider for the portal (and any registered public client).

    Everything is in memory: pending authorization requests (10 minutes), codes (60 seconds, single
    use). ``clock`` is injected so tests move time; ``base_url`` is the origin the request came to
    (the gateway's), so discovery and redirects work on any port.
    """

    def __init__(
        self,
        issuer: DevIssuer,
        *,
        api_scopes: Iterable[str] = (),
        clients: Iterable[OidcClient] = (OidcClient(PORTAL_CLIENT_ID),),
        citizens: Iterable[TestCitizen] = TEST_CITIZENS,
        clock: Any = time.time,
        code_ttl: int = CODE_TTL_SECONDS,
        request_ttl: int = REQUEST_TTL_SECONDS,
        token_ttl: int = 3600,
    ) -> None:
        self.issuer = issuer
        self.scopes_supported = tuple(dict.fromkeys((*IDENTITY_SCOPES, *sorted(set(api_scopes)))))
        self.clients = {c.client_id: c for c in clients}
        self.citizens = tuple(citizens)
        self._clock = clock
        self._code_ttl = code_ttl
        self._request_ttl = request_ttl
        self._token_ttl = token_ttl
        self._requests: dict[str, _Request] = {}
        self._codes: dict[str, _Grant] = {}
        self._spent: dict[str, float] = {}  # redeemed codes, kept until they would have expired

    # -- discovery -------------------------------------------------------------------------------------
    def discovery(self, base_url: str) -> dict[str, Any]:
        """The OpenID Provider Metadata (OpenID Connect Discovery 1.0, section 3)."""
        return {
            "issuer": self.issuer.issuer,
            "authorization_endpoint": base_url + AUTHORIZE_PATH,
            "token_endpoint": base_url + TOKEN_PATH,
            "jwks_uri": base_url + "/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(self.scopes_supported),
            "claims_supported": ["sub", "name", "email", "email_verified", "iss", "aud", "exp", "iat"],
            "authorization_response_iss_parameter_supported": True,
        }

    # -- the authorization endpoint ---------------------------------------------------------------------
    def authorize(self, params: Mapping[str, str], base_url: str) -> Answer:
        """``GET /dev-issuer/authorize``: validate the request, then show the sign-in page.

        An unknown client or a redirect URI it did not register is shown to the person, never
        redirected to (an open redirector otherwise); every other error goes back to the client.
        """
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return _error_page(
                400, "Unknown application", "This sign-in link names no registered application."
            )
        redirect_uri = params.get("redirect_uri", "")
        if not client.allows(redirect_uri, base_url):
            return _error_page(
                400,
                "Sign-in refused",
                "This sign-in link would send you to an address the application did not register, "
                "so it was stopped.",
            )
        state = params.get("state")
        try:
            request = self._validate(client, redirect_uri, params)
        except _AuthorizeError as exc:
            return self._redirect(redirect_uri, base_url, state, error=exc.error, description=exc.description)
        self._purge()
        request_id = _b64u(os.urandom(24))
        self._requests[request_id] = request
        return _html(200, _authorize_page(self, request_id, request))

    def _validate(self, client: OidcClient, redirect_uri: str, params: Mapping[str, str]) -> _Request:
        if params.get("response_type") != "code":
            raise _AuthorizeError("unsupported_response_type", "only response_type=code is supported")
        challenge = params.get("code_challenge")
        if not challenge:
            raise _AuthorizeError("invalid_request", "code_challenge is required (PKCE)")
        if params.get("code_challenge_method") != "S256":
            raise _AuthorizeError("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE.fullmatch(challenge):
            raise _AuthorizeError("invalid_request", "code_challenge is not a base64url SHA-256 digest")
        scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
        unknown = [s for s in scopes if s not in self.scopes_supported]
        if unknown:
            raise _AuthorizeError("invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        return _Request(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge=challenge,
            expires=self._clock() + self._request_ttl,
        )

    def decide(self, form: Mapping[str, list[str]], base_url: str) -> Answer:
        """``POST /dev-issuer/authorize``: the developer approved (or denied) as some citizen."""
        request_id = _first(form, "request")
        request = self._requests.pop(request_id, None) if request_id else None
        if request is None or request.expires <= self._clock():
            return _error_page(
                400,
                "This sign-in has expired",
                "The sign-in page was open too long or was already used. Go back to the portal and "
                "sign in again.",
            )
        if _first(form, "decision") != "approve":
            return self._redirect(
                request.redirect_uri,
                base_url,
                request.state,
                error="access_denied",
                description="the user denied the request",
            )
        citizen, errors = self._citizen(form)
        if citizen is None:
            # the page is shown again with the same (fresh) request id and the person's input
            request_id = _b64u(os.urandom(24))
            self._requests[request_id] = request
            return _html(400, _authorize_page(self, request_id, request, form=form, errors=errors))
        granted = tuple(s for s in form.get("scope", []) if s in request.scopes)
        self._purge()
        code = _b64u(os.urandom(32))
        now = self._clock()
        self._codes[code] = _Grant(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            scopes=granted,
            citizen=citizen,
            nonce=request.nonce,
            auth_time=int(now),
            expires=now + self._code_ttl,
        )
        return self._redirect(request.redirect_uri, base_url, request.state, code=code)

    def _citizen(self, form: Mapping[str, list[str]]) -> tuple[TestCitizen | None, dict[str, str]]:
        choice = _first(form, "citizen")
        preset = next((c for c in self.citizens if c.sub == choice), None)
        if preset is not None:
            return preset, {}
        sub, name, email = (_first(form, k).strip() for k in ("sub", "name", "email"))
        errors: dict[str, str] = {}
        if choice != "other":
            errors["citizen"] = "Choose a test citizen, or “Another citizen” and type one."
            return None, errors
        if not _SUB.fullmatch(sub):
            errors["sub"] = "Enter a subject of 1 to 128 letters, digits or . _ @ + -"
        if not name or len(name) > 200:
            errors["name"] = "Enter a name (at most 200 characters)."
        if not _MAIL.fullmatch(email) or len(email) > 254:
            errors["email"] = "Enter an email address like name@example.org."
        if errors:
            return None, errors
        return TestCitizen(sub, name, email), {}

    def _redirect(
        self,
        redirect_uri: str,
        base_url: str,
        state: str | None,
        *,
        code: str | None = None,
        error: str | None = None,
        description: str | None = None,
    ) -> Answer:
        params: dict[str, str] = {}
        if code is not None:
            params["code"] = code
        if error is not None:
            params["error"] = error
            if description:
                params["error_description"] = description
        if state is not None:
            params["state"] = state
        params["iss"] = self.issuer.issuer  # RFC 9207: the client can tell which provider answered
        sep = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + sep + urlencode(params)
        return Answer(303, (("location", location), *_NO_STORE), b"")

    # -- the token endpoint ---------------------------------------------------------------------------
    def token(self, form: Mapping[str, list[str]]) -> Answer:
        """``POST /dev-issuer/token``: an authorization code and its PKCE verifier for tokens."""
        for name, values in form.items():
            if len(values) > 1:  # RFC 6749 section 3.2: parameters must not be repeated
                return _oauth_error(400, "invalid_request", f"{name} is repeated")
        grant_type = _first(form, "grant_type")
        if not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only authorization_code is supported")
        client_id = _first(form, "client_id")
        if client_id not in self.clients:
            return _oauth_error(401, "invalid_client", "unknown client_id")
        code, verifier = _first(form, "code"), _first(form, "code_verifier")
        if not code:
            return _oauth_error(400, "invalid_request", "code is required")
        if not verifier:
            return _oauth_error(400, "invalid_request", "code_verifier is required (PKCE)")
        if not _VERIFIER.fullmatch(verifier):
            return _oauth_error(
                400, "invalid_request", "code_verifier must be 43 to 128 unreserved characters"
            )
        now = self._clock()
        self._purge()
        if code in self._spent:
            return _oauth_error(400, "invalid_grant", "the authorization code was already used")
        grant = self._codes.pop(code, None)  # single use: whatever follows, the code is spent
        if grant is None:
            return _oauth_error(400, "invalid_grant", "unknown or expired authorization code")
        self._spent[code] = grant.expires
        if grant.expires <= now:
            return _oauth_error(400, "invalid_grant", "the authorization code has expired")
        if grant.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "the code was issued to another client")
        if _first(form, "redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if not hmac.compare_digest(
            _b64u(hashlib.sha256(verifier.encode("ascii")).digest()), grant.code_challenge
        ):
            return _oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge")
        return _json_answer(200, self._tokens(grant))

    def _tokens(self, grant: _Grant) -> dict[str, Any]:
        who = grant.citizen
        profile: dict[str, Any] = {"client_id": grant.client_id}
        if "profile" in grant.scopes:
            profile["name"] = who.name
        if "email" in grant.scopes:
            profile.update(email=who.email, email_verified=True)
        api_scopes = [s for s in grant.scopes if s not in IDENTITY_SCOPES]
        access = self.issuer.mint(who.sub, api_scopes, ttl=self._token_ttl, extra_claims=profile)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self._token_ttl,
            "scope": " ".join(grant.scopes),
        }
        if "openid" in grant.scopes:
            claims = {k: v for k, v in profile.items() if k != "client_id"}
            claims["auth_time"] = grant.auth_time
            if grant.nonce is not None:
                claims["nonce"] = grant.nonce
            answer["id_token"] = self.issuer.mint(
                who.sub, (), ttl=self._token_ttl, extra_claims=claims, audience=grant.client_id
            )
        return answer

    def _purge(self) -> None:
        now = self._clock()
        for store in (self._requests, self._codes):
            for key in [k for k, v in store.items() if v.expires <= now]:
                del store[key]
            while len(store) >= MAX_PENDING:
                del store[next(iter(store))]
        for key in [k for k, exp in self._spent.items() if exp <= now]:
            del self._spent[key]
        while len(self._spent) >= MAX_PENDING:
            del self._spent[next(iter(self._spent))]

    # -- HTTP -----------------------------------------------------------------------------------------
    def handles(self, method: str, path: str) -> bool:
        if path in DISCOVERY_PATHS or path == STYLE_PATH:
            return method in ("GET", "HEAD")
        if path == AUTHORIZE_PATH:
            return method in ("GET", "HEAD", "POST")
        return path == TOKEN_PATH and method == "POST"

    def respond(
        self, method: str, path: str, query: str, content_type: str, body: bytes, base_url: str
    ) -> Answer:
        """The answer to one request ``handles`` accepted."""
        if path in DISCOVERY_PATHS:
            return _json_answer(200, self.discovery(base_url), cache="public, max-age=300")
        if path == STYLE_PATH:
            return Answer(200, (("content-type", "text/css; charset=utf-8"),), _STYLE.encode())
        if method in ("GET", "HEAD"):
            return self.authorize({k: v[0] for k, v in parse_qs(query).items()}, base_url)
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            if path == TOKEN_PATH:
                return _oauth_error(
                    400, "invalid_request", "send the parameters as application/x-www-form-urlencoded"
                )
            return _error_page(415, "Unsupported form", "The form must be sent as a regular HTML form.")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            form = {}
        if path == TOKEN_PATH:
            return self.token(form)
        return self.decide(form, base_url)


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def _json_answer(status: int, payload: Any, *, cache: str | None = None) -> Answer:
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    headers += (("cache-control", cache),) if cache else _NO_STORE
    return Answer(status, headers, json.dumps(payload).encode())


def _oauth_error(status: int, error: str, description: str) -> Answer:
    """RFC 6749 section 5.2: ``{"error", "error_description"}``, never cached."""
    answer = _json_answer(status, {"error": error, "error_description": description})
    if status == 401:
        return Answer(
            401, (*answer.headers, ("www-authenticate", 'Basic realm="hms-dev-issuer"')), answer.body
        )
    return answer


def _html(status: int, page: str) -> Answer:
    return Answer(status, (("content-type", "text/html; charset=utf-8"), *_NO_STORE), page.encode())


def _error_page(status: int, title: str, sentence: str) -> Answer:
    body = f'<div class="alert" role="alert"><h1>{escape(title)}</h1><p>{escape(sentence)}</p></div>'
    return _html(status, _page(title, body))


def _page(title: str, main: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · HMS dev sign-in</title>"
        f'<link rel="stylesheet" href="{STYLE_PATH}"></head><body>'
        '<header><p class="banner">HMS local development sign-in. Not a real identity provider.</p></header>'
        f'<main id="main">{main}</main></body></html>'
    )


_SCOPE_LABELS = {
    "openid": "Know who you are (your subject identifier)",
    "profile": "See your name",
    "email": "See your email address",
}


def _authorize_page(
    provider: OidcProvider,
    request_id: str,
    request: _Request,
    *,
    form: Mapping[str, list[str]] | None = None,
    errors: Mapping[str, str] | None = None,
) -> str:
    form = form or {}
    errors = errors or {}
    chosen = _first(form, "citizen") or (provider.citizens[0].sub if provider.citizens else "other")
    checked = set(form.get("scope", request.scopes)) if form else set(request.scopes)
    parts: list[str] = []
    if errors:
        items = "".join(f'<li><a href="#{escape(k)}">{escape(v)}</a></li>' for k, v in errors.items())
        parts.append(
            '<div class="alert error" role="alert" tabindex="-1" id="error-summary">'
            f"<h2>There is a problem</h2><ul>{items}</ul></div>"
        )
    parts.append(
        "<h1>Sign in as a test citizen</h1>"
        f"<p><strong>{escape(request.client_id)}</strong> asks to sign you in. Pick a test citizen or "
        "type one, check the permissions to give, then approve.</p>"
        f'<form method="post" action="{AUTHORIZE_PATH}" novalidate>'
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        "<fieldset><legend>Test citizen</legend>"
    )
    if "citizen" in errors:
        parts.append(f'<p class="field-error" id="citizen-error">{escape(errors["citizen"])}</p>')
    for c in provider.citizens:
        on = " checked" if chosen == c.sub else ""
        parts.append(
            f'<div class="choice"><input type="radio" name="citizen" id="citizen-{escape(c.sub)}" '
            f'value="{escape(c.sub)}"{on}><label for="citizen-{escape(c.sub)}">{escape(c.name)} '
            f'<span class="hint">({escape(c.sub)}, {escape(c.email)})</span></label></div>'
        )
    on = " checked" if chosen == "other" else ""
    parts.append(
        f'<div class="choice"><input type="radio" name="citizen" id="citizen" value="other"{on}>'
        '<label for="citizen">Another citizen (type below)</label></div>'
    )
    for name, label, kind, auto in (
        ("sub", "Subject (sub)", "text", "username"),
        ("name", "Full name", "text", "name"),
        ("email", "Email", "email", "email"),
    ):
        value = escape(_first(form, name))
        err = errors.get(name)
        described = f' aria-describedby="{name}-error" aria-invalid="true"' if err else ""
        parts.append(f'<div class="field"><label for="{name}">{label}</label>')
        if err:
            parts.append(f'<p class="field-error" id="{name}-error">{escape(err)}</p>')
        parts.append(
            f'<input type="{kind}" id="{name}" name="{name}" value="{value}" autocomplete="{auto}"{described}></div>'
        )
    parts.append("</fieldset><fieldset><legend>Permissions requested</legend>")
    if not request.scopes:
        parts.append("<p>No permissions: sign-in only.</p>")
    for i, scope in enumerate(request.scopes):
        on = " checked" if scope in checked else ""
        label = _SCOPE_LABELS.get(scope, f"Use the {scope.split('.')[0]} service ({scope})")
        parts.append(
            f'<div class="choice"><input type="checkbox" name="scope" id="scope-{i}" value="{escape(scope)}"{on}>'
            f'<label for="scope-{i}">{escape(label)}</label></div>'
        )
    parts.append(
        '</fieldset><div class="actions">'
        '<button type="submit" name="decision" value="approve">Approve and sign in</button>'
        '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>'
        "</div></form>"
    )
    return _page("Sign in", "".join(parts))


_STYLE = """
*{box-sizing:border-box}
body{margin:0;font-family:"Source Sans Pro",system-ui,sans-serif;font-size:1.0625rem;line-height:1.5;color:#1b1b1b;background:#fff}
.banner{margin:0;padding:.5rem 1rem;background:#f0f0f0;font-size:.9375rem}
main{max-width:40rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:2rem;line-height:1.2}
fieldset{border:0;padding:0;margin:1.5rem 0}
legend{font-weight:700;font-size:1.25rem;margin-bottom:.5rem}
.choice{display:flex;align-items:center;gap:.5rem;margin:.5rem 0}
.choice input{width:1.25rem;height:1.25rem;margin:0}
.field{margin:1rem 0}
.field label{display:block;font-weight:600}
.field input{display:block;width:100%;max-width:30rem;height:2.5rem;margin-top:.25rem;padding:.5rem;border:1px solid #565c65;font-size:1rem}
.hint{color:#565c65}
.field-error{color:#b50909;font-weight:700;margin:.25rem 0}
[aria-invalid=true]{border:4px solid #b50909 !important}
.alert{border-left:.5rem solid #d54309;background:#f4e3db;padding:1rem 1.25rem;margin:1rem 0}
.alert a{color:#1a4480}
.actions{display:flex;gap:1rem;flex-wrap:wrap}
button{font:inherit;font-weight:700;padding:.75rem 1.25rem;border:0;border-radius:.25rem;background:#005ea2;color:#fff;cursor:pointer;min-height:2.75rem}
button.secondary{background:#fff;color:#005ea2;box-shadow:inset 0 0 0 2px #005ea2}
button:hover{background:#1a4480}
button.secondary:hover{background:#fff;color:#1a4480}
:focus-visible{outline:.25rem solid #2491ff;outline-offset:.25rem}
"""
