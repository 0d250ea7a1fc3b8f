"""The principal comes from the verified authorizer context only."""

from __future__ import annotations

import pytest
from helpers import http_event

from hms.apigw import build_v1_event
from hmskit.auth import AuthError, principal_from_event, rate_limit_key


def test_the_principal_is_the_token_sub_with_the_payload_2_scopes() -> None:
    event = http_event("GET", "/x", sub="alice", scopes=["payments.read", "payments.write"])

    principal = principal_from_event(event)

    assert principal.sub == "alice"
    assert principal.scopes == {"payments.read", "payments.write"}
    assert principal.has_scope("payments.read")
    assert not principal.has_scope("docs.read")


def test_scopes_fall_back_to_the_scope_claim_when_the_authorizer_lists_none() -> None:
    event = http_event("GET", "/x", sub="alice")
    event["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "a.read a.write"

    assert principal_from_event(event).scopes == {"a.read", "a.write"}


def test_an_scp_claim_flattened_by_api_gateway_yields_clean_scopes() -> None:
    event = http_event("GET", "/x", sub="alice")
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    claims.pop("scope")
    claims["scp"] = "[a.read a.write]"

    assert principal_from_event(event).scopes == {"a.read", "a.write"}


def test_the_claims_are_kept_on_the_principal() -> None:
    event = http_event("GET", "/x", sub="alice")

    assert principal_from_event(event).claims["sub"] == "alice"


def test_an_event_without_authorizer_context_has_no_principal() -> None:
    with pytest.raises(AuthError, match="no verified identity"):
        principal_from_event(http_event("GET", "/x", sub=None))


def test_a_token_without_sub_has_no_principal() -> None:
    event = http_event("GET", "/x", sub="alice")
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = ""

    with pytest.raises(AuthError, match="'sub'"):
        principal_from_event(event)


def test_a_client_sent_x_hms_user_header_is_never_an_identity() -> None:
    with pytest.raises(AuthError):
        principal_from_event(http_event("GET", "/x", sub=None, headers={"x-hms-user": "mallory"}))
    event = http_event("GET", "/x", sub="alice", headers={"x-hms-user": "mallory"})
    assert principal_from_event(event).sub == "alice"


def test_payload_1_events_carry_the_same_principal() -> None:
    v1 = build_v1_event(http_event("GET", "/x", sub="alice", scopes=["s"]), resource="/x")

    principal = principal_from_event(v1)

    assert (principal.sub, principal.scopes) == ("alice", frozenset({"s"}))


def test_rate_limits_count_the_sub_and_fall_back_to_the_client_ip() -> None:
    assert rate_limit_key(http_event("GET", "/x", sub="alice")) == "sub:alice"
    anonymous = http_event("GET", "/x", sub=None)
    anonymous["requestContext"]["http"]["sourceIp"] = "203.0.113.9"
    assert rate_limit_key(anonymous) == "ip:203.0.113.9"


def test_the_ip_fallback_reads_payload_1_identity() -> None:
    v1 = build_v1_event(http_event("GET", "/x", sub=None), resource="/x")
    v1["requestContext"]["identity"]["sourceIp"] = "198.51.100.7"

    assert rate_limit_key(v1) == "ip:198.51.100.7"


def test_payload_1_0_carries_the_jwt_result_flat_and_is_read_the_same() -> None:
    from hms.apigw import build_v1_event, build_v2_event
    from hmskit.auth import principal_from_event

    v2 = build_v2_event(
        method="GET",
        path="/x",
        route_key="GET /x",
        claims={"sub": "alice", "scope": "a.read"},
        scopes=["a.read"],
    )
    v1 = build_v1_event(v2, resource="/x")

    assert "jwt" not in v1["requestContext"]["authorizer"]
    assert v1["requestContext"]["authorizer"]["claims"]["sub"] == "alice"
    principal = principal_from_event(v1)
    assert principal.sub == "alice" and principal.scopes == frozenset({"a.read"})


def test_a_flat_authorizer_without_claims_is_no_identity() -> None:
    import pytest

    from hmskit.auth import AuthError, principal_from_event

    with pytest.raises(AuthError):
        principal_from_event({"requestContext": {"authorizer": {"lambda": {"sub": "mallory"}}}})
