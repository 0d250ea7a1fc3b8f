"""The local OpenID Connect provider: code + PKCE (S256) for the portal, single-use short-lived codes,
exact redirect URIs, and RFC 6749 errors; the tokens it issues pass the gateway's verification."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from hms.local.devauth import (
    AUTHORIZE_PATH,
    TOKEN_PATH,
    Answer,
    DevIssuer,
    OidcClient,
    OidcProvider,
)
from hms.local.portal import CONTENT_SECURITY_POLICY, LocalSite

BASE = "http://127.0.0.1:3000"
PORTAL = f"{BASE}/"
VERIFIER = "dBjftJeZ4CVP-mJ92K9ohgBaSp0hJ-4wm0Oh9w0fSvWKw-eXa"  # 49 unreserved characters
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
SCOPES = "openid profile email renewals.write payments.read"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer(tmp_path_factory.mktemp("state"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(issuer: DevIssuer, clock: Clock) -> OidcProvider:
    return OidcProvider(issuer, api_scopes=["renewals.write", "payments.read", "docs.write"], clock=clock)


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "hms-portal",
        "redirect_uri": PORTAL,
        "scope": SCOPES,
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


def request_id_of(page: Answer) -> str:
    found = re.search(r'name="request" value="([^"]+)"', page.body.decode())
    assert found, page.body.decode()
    return found.group(1)


def redirect_params(answer: Answer) -> tuple[str, dict[str, str]]:
    assert answer.status == 303, answer.body
    location = answer.header("location") or ""
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", {k: v[0] for k, v in parse_qs(parts.query).items()}


def approve(provider: OidcProvider, *, scopes: list[str] | None = None, **who: str) -> str:
    page = provider.authorize(authorize_params(), BASE)
    form = {
        "request": [request_id_of(page)],
        "decision": ["approve"],
        "citizen": [who.get("citizen", "ada")],
        "scope": scopes if scopes is not None else SCOPES.split(),
    }
    for key in ("sub", "name", "email"):
        if key in who:
            form[key] = [who[key]]
    _, params = redirect_params(provider.decide(form, BASE))
    return params["code"]


def redeem(provider: OidcProvider, issued: str, **overrides: str) -> Answer:
    form = {
        "grant_type": "authorization_code",
        "code": issued,
        "redirect_uri": PORTAL,
        "client_id": "hms-portal",
        "code_verifier": VERIFIER,
    }
    form.update(overrides)
    return provider.token({k: [v] for k, v in form.items()})


def error_of(answer: Answer) -> tuple[int, str]:
    assert answer.header("cache-control") == "no-store"
    return answer.status, json.loads(answer.body)["error"]


def test_discovery_names_the_endpoints_on_the_origin_asked_and_s256_only(provider: OidcProvider) -> None:
    doc = provider.discovery("http://127.0.0.1:4123")
    assert doc["issuer"] == provider.issuer.issuer
    assert doc["authorization_endpoint"] == "http://127.0.0.1:4123" + AUTHORIZE_PATH
    assert doc["token_endpoint"] == "http://127.0.0.1:4123" + TOKEN_PATH
    assert doc["jwks_uri"] == "http://127.0.0.1:4123/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["token_endpoint_auth_methods_supported"] == ["none"]
    assert {"openid", "renewals.write", "docs.write"} <= set(doc["scopes_supported"])


def test_the_authorization_page_lists_citizens_and_the_requested_scopes_checked(
    provider: OidcProvider,
) -> None:
    page = provider.authorize(authorize_params(), BASE)
    html = page.body.decode()
    assert (
        page.status == 200
        and page.header(
            "content-type",
        )
        == "text/html; charset=utf-8"
    )
    assert '<html lang="en">' in html and "<h1>Sign in as a test citizen</h1>" in html
    assert 'value="ada" checked' in html and 'value="other"' in html
    for scope in SCOPES.split():
        assert f'value="{scope}" checked' in html
    assert "docs.write" not in html  # supported, but not requested
    assert "<script" not in html  # the page works without JavaScript and under a strict CSP


def test_code_and_pkce_give_an_access_token_the_gateway_verifies_and_an_id_token(
    provider: OidcProvider, issuer: DevIssuer
) -> None:
    answer = redeem(provider, approve(provider))
    assert answer.status == 200 and answer.header("cache-control") == "no-store"
    tokens = json.loads(answer.body)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    claims = issuer.verify(tokens["access_token"])
    assert claims["sub"] == "ada" and claims["scope"] == "renewals.write payments.read"
    assert claims["email"] == "ada@example.org" and claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace" and claims["client_id"] == "hms-portal"
    id_token = jwt.decode(
        tokens["id_token"],
        jwt.PyJWK(issuer.jwks()["keys"][0]).key,
        algorithms=["RS256"],
        audience="hms-portal",
        issuer=issuer.issuer,
        options={"verify_exp": False},
    )
    assert id_token["sub"] == "ada" and id_token["nonce"] == "n-1" and "scope" not in id_token


def test_the_redirect_carries_state_and_the_issuer(provider: OidcProvider) -> None:
    page = provider.authorize(authorize_params(), BASE)
    target, params = redirect_params(
        provider.decide(
            {"request": [request_id_of(page)], "decision": ["approve"], "citizen": ["grace"]}, BASE
        )
    )
    assert target == PORTAL and params["state"] == "st-1" and params["iss"] == provider.issuer.issuer
    assert len(params["code"]) >= 43


def test_a_typed_citizen_and_unchecked_scopes_are_what_the_token_carries(
    provider: OidcProvider, issuer: DevIssuer
) -> None:
    code = approve(
        provider,
        citizen="other",
        sub="zoe-42",
        name="Zoë Example",
        email="zoe@example.org",
        scopes=["openid"],
    )
    tokens = json.loads(redeem(provider, code).body)
    claims = issuer.verify(tokens["access_token"])
    assert claims["sub"] == "zoe-42" and claims["scope"] == "" and "email" not in claims
    assert tokens["scope"] == "openid"


def test_a_typed_citizen_with_bad_fields_sees_the_page_again_with_each_error(provider: OidcProvider) -> None:
    page = provider.authorize(authorize_params(), BASE)
    form = {
        "request": [request_id_of(page)],
        "decision": ["approve"],
        "citizen": ["other"],
        "sub": ["has space"],
        "name": [""],
        "email": ["nope"],
    }
    again = provider.decide(form, BASE)
    html = again.body.decode()
    assert again.status == 400 and "There is a problem" in html
    for field in ("sub", "name", "email"):
        assert f'id="{field}-error"' in html and f'aria-describedby="{field}-error"' in html
    assert 'value="has space"' in html  # the input is kept
    # the new page still works
    fixed = {**form, "request": [request_id_of(again)], "sub": ["zed"], "name": ["Zed"], "email": ["z@e.org"]}
    assert redirect_params(provider.decide(fixed, BASE))[1]["code"]


def test_a_denial_goes_back_as_access_denied(provider: OidcProvider) -> None:
    page = provider.authorize(authorize_params(), BASE)
    _, params = redirect_params(
        provider.decide({"request": [request_id_of(page)], "decision": ["deny"]}, BASE)
    )
    assert params["error"] == "access_denied" and params["state"] == "st-1" and "code" not in params


def test_a_code_is_single_use(provider: OidcProvider) -> None:
    code = approve(provider)
    assert redeem(provider, code).status == 200
    status, error = error_of(redeem(provider, code))
    assert (status, error) == (400, "invalid_grant")
    assert "already used" in json.loads(redeem(provider, code).body)["error_description"]


def test_a_code_expires_after_a_minute(provider: OidcProvider, clock: Clock) -> None:
    code = approve(provider)
    clock.now += 61
    assert error_of(redeem(provider, code)) == (400, "invalid_grant")


def test_a_code_redeemed_within_its_minute_works(provider: OidcProvider, clock: Clock) -> None:
    code = approve(provider)
    clock.now += 59
    assert redeem(provider, code).status == 200


def test_a_wrong_verifier_is_refused_and_spends_the_code(provider: OidcProvider) -> None:
    code = approve(provider)
    answer = redeem(provider, code, code_verifier="x" * 43)
    assert error_of(answer) == (400, "invalid_grant")
    assert "code_verifier" in json.loads(answer.body)["error_description"]
    assert error_of(redeem(provider, code)) == (400, "invalid_grant")  # no second guess


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"redirect_uri": "http://evil.example/"}, (400, "invalid_grant")),
        ({"client_id": "someone-else"}, (401, "invalid_client")),
        ({"grant_type": "password"}, (400, "unsupported_grant_type")),
        ({"grant_type": ""}, (400, "invalid_request")),
        ({"code_verifier": ""}, (400, "invalid_request")),
        ({"code_verifier": "short"}, (400, "invalid_request")),
        ({"code": ""}, (400, "invalid_request")),
        ({"code": "never-issued"}, (400, "invalid_grant")),
    ],
)
def test_token_requests_are_refused_as_rfc_6749_says(
    provider: OidcProvider, override: dict[str, str], expected: tuple[int, str]
) -> None:
    code = approve(provider)
    assert error_of(redeem(provider, code, **override)) == expected


def test_a_code_issued_to_one_client_is_refused_to_another(issuer: DevIssuer, clock: Clock) -> None:
    provider = OidcProvider(
        issuer, clients=[OidcClient("hms-portal"), OidcClient("other-app")], clock=clock, api_scopes=[]
    )
    page = provider.authorize(authorize_params(scope="openid"), BASE)
    _, params = redirect_params(
        provider.decide({"request": [request_id_of(page)], "decision": ["approve"], "citizen": ["ada"]}, BASE)
    )
    assert error_of(redeem(provider, params["code"], client_id="other-app")) == (400, "invalid_grant")


def test_repeated_token_parameters_are_refused(provider: OidcProvider) -> None:
    code = approve(provider)
    answer = provider.token({"grant_type": ["authorization_code"], "code": [code, code]})
    assert error_of(answer) == (400, "invalid_request")


@pytest.mark.parametrize(
    "params",
    [
        authorize_params(redirect_uri="http://evil.example/"),
        authorize_params(redirect_uri=f"{BASE}/elsewhere"),
        authorize_params(redirect_uri=""),
        authorize_params(client_id="unknown"),
    ],
)
def test_a_foreign_redirect_uri_or_unknown_client_is_shown_never_redirected(
    provider: OidcProvider, params: dict[str, str]
) -> None:
    answer = provider.authorize(params, BASE)
    assert answer.status == 400 and answer.header("location") is None
    assert 'role="alert"' in answer.body.decode()


def test_the_portal_origin_is_the_origin_asked_so_any_port_works(provider: OidcProvider) -> None:
    other = "http://127.0.0.1:4999"
    assert provider.authorize(authorize_params(redirect_uri=f"{other}/"), other).status == 200
    assert provider.authorize(authorize_params(redirect_uri=f"{other}/"), BASE).status == 400


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "openid admin.everything"}, "invalid_scope"),
    ],
)
def test_bad_authorization_requests_go_back_to_the_client_with_the_error(
    provider: OidcProvider, override: dict[str, str], error: str
) -> None:
    target, params = redirect_params(provider.authorize(authorize_params(**override), BASE))
    assert target == PORTAL and params["error"] == error and params["state"] == "st-1"
    assert params["error_description"]


def test_the_sign_in_page_expires_and_is_single_use(provider: OidcProvider, clock: Clock) -> None:
    page = provider.authorize(authorize_params(), BASE)
    form = {"request": [request_id_of(page)], "decision": ["approve"], "citizen": ["ada"]}
    clock.now += 601
    expired = provider.decide(form, BASE)
    assert expired.status == 400 and "expired" in expired.body.decode()
    clock.now -= 601
    page = provider.authorize(authorize_params(), BASE)
    form["request"] = [request_id_of(page)]
    assert provider.decide(form, BASE).status == 303
    assert provider.decide(form, BASE).status == 400  # the same page posted again


def test_the_http_surface_routes_discovery_authorize_and_token(provider: OidcProvider) -> None:
    assert provider.handles("GET", "/.well-known/openid-configuration")
    assert provider.handles("GET", "/dev-issuer/.well-known/openid-configuration")
    assert provider.handles("POST", TOKEN_PATH) and not provider.handles("GET", TOKEN_PATH)
    page = provider.respond("GET", AUTHORIZE_PATH, urlencode(authorize_params()), "", b"", BASE)
    body = urlencode({"request": request_id_of(page), "decision": "approve", "citizen": "ada"}).encode()
    answer = provider.respond("POST", AUTHORIZE_PATH, "", "application/x-www-form-urlencoded", body, BASE)
    code = redirect_params(answer)[1]["code"]
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": PORTAL,
            "client_id": "hms-portal",
            "code_verifier": VERIFIER,
        }
    ).encode()
    json_body = provider.respond("POST", TOKEN_PATH, "", "application/json", form, BASE)
    assert error_of(json_body) == (400, "invalid_request")
    ok = provider.respond(
        "POST", TOKEN_PATH, "", "application/x-www-form-urlencoded; charset=utf-8", form, BASE
    )
    assert ok.status == 200 and "access_token" in json.loads(ok.body)


def test_the_site_serves_the_portal_with_security_headers_and_never_api_paths(
    provider: OidcProvider, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>portal</title>")
    (tmp_path / "assets" / "app-ABC.js").write_text("console.log(1)")
    site = LocalSite(tmp_path, provider)
    index = site.respond("GET", "/", "", [], b"", BASE)
    assert index is not None and index.status == 200 and b"portal" in index.body
    assert index.header("content-security-policy") == CONTENT_SECURITY_POLICY
    assert (
        "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    )
    asset = site.respond("GET", "/assets/app-ABC.js", "", [], b"", BASE)
    assert asset is not None and asset.header("cache-control") == "public, max-age=31536000, immutable"
    assert site.respond("GET", "/assets/../../etc/passwd", "", [], b"", BASE) is None
    assert site.respond("GET", "/nothing-here.js", "", [], b"", BASE) is None
    assert not site.handles("GET", "/api/v1/nothing") and not site.handles("POST", "/")
    config = site.respond("GET", "/portal-config.json", "", [], b"", "http://127.0.0.1:4000")
    assert config is not None
    doc = json.loads(config.body)
    assert doc["client_id"] == "hms-portal" and doc["redirect_uri"] == "http://127.0.0.1:4000/"
    assert doc["token_endpoint"] == "http://127.0.0.1:4000" + TOKEN_PATH


def test_without_a_build_the_site_says_how_to_make_one(provider: OidcProvider, tmp_path: Path) -> None:
    answer = LocalSite(tmp_path / "missing", provider).respond("GET", "/", "", [], b"", BASE)
    assert answer is not None and b"make web" in answer.body
