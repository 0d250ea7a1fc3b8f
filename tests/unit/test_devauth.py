"""The local dev issuer: tokens it mints verify; anything else is refused with a clear reason."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import jwt
import pytest

from hms.local.devauth import DevIssuer, TokenError, scopes_of


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def issuer(state: Path) -> DevIssuer:
    return DevIssuer(state)


def test_a_minted_token_verifies_with_its_claims(issuer: DevIssuer) -> None:
    token = issuer.mint("alice", ["payments.read", "payments.write"], extra_claims={"name": "Alice"})
    claims = issuer.verify(token)
    assert claims["sub"] == "alice"
    assert claims["iss"] == issuer.issuer and claims["aud"] == "hms-local"
    assert claims["name"] == "Alice" and claims["jti"]
    assert claims["nbf"] <= claims["iat"] + 0 and claims["exp"] == claims["iat"] + 3600
    assert scopes_of(claims) == ("payments.read", "payments.write")
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid


def test_the_jwks_publishes_the_key_under_its_rfc7638_thumbprint(issuer: DevIssuer) -> None:
    (key,) = issuer.jwks()["keys"]
    assert key["kid"] == issuer.kid and key["alg"] == "RS256" and key["kty"] == "RSA"
    # the thumbprint pyjwt computes independently matches
    public = jwt.PyJWK(key).key
    token = issuer.mint("bob", [])
    assert jwt.decode(token, public, algorithms=["RS256"], audience="hms-local")["sub"] == "bob"
    thumb = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    canonical = json.dumps({k: thumb[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    import hashlib

    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert key["kid"] == expected


def test_an_expired_token_is_refused(state: Path) -> None:
    past = DevIssuer(state, clock=lambda: time.time() - 7200)
    with pytest.raises(TokenError, match="token expired"):
        DevIssuer(state).verify(past.mint("alice", [], ttl=60))


def test_a_token_for_another_audience_is_refused(state: Path, issuer: DevIssuer) -> None:
    other = DevIssuer(state, audience="somebody-else")
    with pytest.raises(TokenError, match="wrong audience"):
        issuer.verify(other.mint("alice", []))


def test_a_token_from_another_issuer_is_refused(state: Path, issuer: DevIssuer) -> None:
    other = DevIssuer(state, issuer="http://elsewhere")
    with pytest.raises(TokenError, match="wrong issuer"):
        issuer.verify(other.mint("alice", []))


def test_a_tampered_token_is_refused(issuer: DevIssuer) -> None:
    header, payload, sig = issuer.mint("alice", ["payments.read"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "payments.read payments.write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="bad signature"):
        issuer.verify(f"{header}.{forged}.{sig}")


def test_a_token_signed_by_another_key_is_refused(tmp_path: Path, issuer: DevIssuer) -> None:
    stranger = DevIssuer(tmp_path)
    with pytest.raises(TokenError, match="unknown signing key"):
        issuer.verify(stranger.mint("alice", []))


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "x" * 50])
def test_garbage_is_a_malformed_token(issuer: DevIssuer, junk: str) -> None:
    with pytest.raises(TokenError, match="malformed token"):
        issuer.verify(junk)


def test_a_token_without_a_subject_is_refused(issuer: DevIssuer) -> None:
    token = issuer.mint("alice", [])
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims["sub"]
    issuer._load()
    unsigned = jwt.encode(claims, issuer._private, algorithm="RS256", headers={"kid": issuer.kid})  # type: ignore[arg-type]
    with pytest.raises(TokenError, match="missing claim 'sub'"):
        issuer.verify(unsigned)


def test_the_key_is_kept_private_and_reused_across_instances(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path)
    token = first.mint("alice", ["x"])
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    second = DevIssuer(tmp_path)
    assert second.kid == first.kid
    assert second.verify(token)["sub"] == "alice"


def test_verification_reuses_the_key_it_loaded_once(tmp_path: Path) -> None:
    # What keeps verification cheap is that the key is read and parsed once, not per token: with the
    # key file gone, tokens still verify against the very same key object. (Speed: `make bench`.)
    issuer = DevIssuer(tmp_path)
    token = issuer.mint("alice", ["payments.read"])
    issuer.verify(token)
    public = issuer._public
    issuer.key_path.unlink()

    for _ in range(3):
        assert issuer.verify(token)["sub"] == "alice"

    assert issuer._public is public
