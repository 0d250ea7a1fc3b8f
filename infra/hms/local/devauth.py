"""The local dev issuer: an RSA key kept under the state dir, a JWKS, token minting and verification."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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
    ) -> str:
        """A signed RS256 token for ``sub`` with the space-separated ``scope`` claim."""
        key = self._load()
        now = int(self._clock())
        claims: dict[str, Any] = dict(extra_claims or {})
        claims.update(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": sub,
                "iat": now,
                "nbf": now,
                "exp": now + int(ttl),
                "jti": uuid.uuid4().hex,
                "scope": " ".join(scopes),
            }
        )
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
