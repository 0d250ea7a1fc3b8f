"""Passport handler (skeleton: health only; the window is being built)."""

from __future__ import annotations

from typing import Any

from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint

app = WindowApp("passport")


@app.get("/api/v1/renewals/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "passport", "status": "ok"})


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context, None)
