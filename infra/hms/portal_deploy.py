"""``python -m hms.portal_deploy --stack-name NAME`` (``make portal-deploy STACK=NAME``), after ``sam deploy``.

Reads the stack's outputs, writes ``portal-config.json`` (where the portal signs in, with the scopes as
the issuer names them), uploads ``web/dist/`` to the portal bucket (content types; hashed assets
cached for a year, the page and its config revalidated), points the Cognito app client's callback at
the portal's URL when the template could not (``PortalUrl`` parameter empty), and invalidates the
page and config in CloudFront.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hms.model import load_platform

IDENTITY_SCOPES = ("openid", "profile", "email")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
_REVALIDATE = ("index.html", "portal-config.json", "build.json")


def portal_config(outputs: Mapping[str, str], api_scopes: list[str]) -> dict[str, Any]:
    """The portal's sign-in settings from the stack's outputs."""
    prefix = outputs.get("ScopePrefix", "none")
    prefix = "" if prefix == "none" else prefix
    return {
        "issuer": outputs["Issuer"],
        "authorization_endpoint": outputs["AuthorizationEndpoint"],
        "token_endpoint": outputs["TokenEndpoint"],
        "client_id": outputs["PortalClientId"].split(",")[0],
        "redirect_uri": outputs["PortalUrl"],
        "scopes": [*IDENTITY_SCOPES, *(prefix + s for s in sorted(api_scopes))],
    }


def upload(s3: Any, bucket: str, dist: Path, config: Mapping[str, Any]) -> int:
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    for path in files:
        key = path.relative_to(dist).as_posix()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = "no-cache" if key in _REVALIDATE else "public, max-age=31536000, immutable"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=kind, CacheControl=cache)
    s3.put_object(
        Bucket=bucket,
        Key="portal-config.json",
        Body=json.dumps(config).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    return len(files) + 1


def set_callback(cognito: Any, pool_id: str, client_id: str, url: str) -> bool:
    """Make ``url`` the app client's callback and logout URL (keeping every other setting)."""
    client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    if client.get("CallbackURLs") == [url]:
        return False
    keep = {
        k: v
        for k, v in client.items()
        if k
        not in (
            "UserPoolId",
            "ClientId",
            "ClientSecret",
            "LastModifiedDate",
            "CreationDate",
            "CallbackURLs",
            "LogoutURLs",
        )
    }
    cognito.update_user_pool_client(
        UserPoolId=pool_id, ClientId=client_id, CallbackURLs=[url], LogoutURLs=[url], **keep
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hms.portal_deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)

    import boto3

    dist = args.root / "web" / "dist"
    if not (dist / "index.html").is_file():
        print("hms.portal_deploy: web/dist is not built; run make web", file=sys.stderr)
        return 1
    session = boto3.session.Session(region_name=args.region)
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    platform = load_platform(args.root)
    scopes = sorted({s for w in platform.windows for r in w.routes for s in r.scopes})
    config = portal_config(outputs, scopes)
    count = upload(session.client("s3"), outputs["PortalBucketName"], dist, config)
    print(f"uploaded {count} files to s3://{outputs['PortalBucketName']}/")
    if "UserPoolId" in outputs and set_callback(
        session.client("cognito-idp"), outputs["UserPoolId"], config["client_id"], outputs["PortalUrl"]
    ):
        print(f"the app client's callback is now {outputs['PortalUrl']}")
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["PortalDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": ["/index.html", "/portal-config.json"]},
            "CallerReference": f"portal-{time.time_ns()}",
        },
    )
    print(f"portal: {outputs['PortalUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
