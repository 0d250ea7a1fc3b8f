"""make portal-deploy: the portal's sign-in settings come from the stack's outputs; the bucket gets
the build with the right types and caching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hms.portal_deploy import portal_config, upload

OUTPUTS = {
    "Issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
    "AuthorizationEndpoint": "https://hms.auth.us-east-1.amazoncognito.com/oauth2/authorize",
    "TokenEndpoint": "https://hms.auth.us-east-1.amazoncognito.com/oauth2/token",
    "PortalClientId": "client123",
    "PortalUrl": "https://d111.cloudfront.net/",
    "ScopePrefix": "hms/",
}


def test_with_cognito_the_portal_asks_for_the_prefixed_scopes() -> None:
    config = portal_config(OUTPUTS, ["payments.write", "docs.read"])
    assert config["scopes"] == ["openid", "profile", "email", "hms/docs.read", "hms/payments.write"]
    assert config["client_id"] == "client123" and config["redirect_uri"] == "https://d111.cloudfront.net/"


def test_with_an_external_issuer_the_scopes_are_the_manifests_names() -> None:
    config = portal_config(
        {**OUTPUTS, "ScopePrefix": "none", "PortalClientId": "gov-client,other"}, ["docs.read"]
    )
    assert config["scopes"][-1] == "docs.read" and config["client_id"] == "gov-client"


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def put_object(self, **kwargs: Any) -> None:
        self.objects[kwargs["Key"]] = kwargs


def test_the_upload_types_and_caches_each_file(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "assets" / "portal-AB12.js").write_text("1")
    s3 = FakeS3()
    assert upload(s3, "bucket", tmp_path, portal_config(OUTPUTS, [])) == 3
    assert s3.objects["index.html"]["CacheControl"] == "no-cache"
    assert s3.objects["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert s3.objects["assets/portal-AB12.js"]["CacheControl"] == "public, max-age=31536000, immutable"
    assert s3.objects["portal-config.json"]["ContentType"] == "application/json"
