"""The seed's hands-on exercise (chapter 8, section 9), steps 2-5, as written, against `hms up`.

The project runs with the seed's payments manifest verbatim (no ``routes:`` list) and its second
manifest's short form (``plugins: [auth, rate-limit]``). Only the port differs (the stack's free
port for the seed's 9000), and step 5's "kill the Payments container" is a SIGKILL of the payments
window's execution environments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Stack, copy_project, start_stack, stop_stack
from images import jpeg

pytestmark = pytest.mark.e2e

SEED_PAYMENTS = """\
# gateway/routes/payments.yaml
uri: /api/v1/payments/**
upstream: http://hms-svc-payments:8080
plugins:
  - auth:
      scopes: ["payments.write", "payments.read"]
  - rate-limit:
      limit: 30
      window: 60
"""

# the seed's three lines; the documents window also says it owns a bucket
SEED_DOCS = """\
uri: /api/v1/docs/**
upstream: http://hms-svc-documents:8090
plugins: [auth, rate-limit]
window: {bucket: true}
"""


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_project(tmp_path_factory.mktemp("seed"))
    (root / "routes" / "payments.yaml").write_text(SEED_PAYMENTS)
    (root / "routes" / "documents.yaml").write_text(SEED_DOCS)
    stack = start_stack(root)
    try:
        yield stack
    finally:
        stop_stack(stack)


def shell(stack: Stack, script: str, token: str, cwd: Path) -> str:
    """Run a step of the exercise in bash, ``$TOKEN`` set, the seed's port 9000 replaced."""
    port = stack.url.rsplit(":", 1)[1]
    result = subprocess.run(
        ["bash", "-c", script.replace("localhost:9000", f"localhost:{port}")],
        cwd=cwd,
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


STEP_3 = """curl -H "Authorization: Bearer $TOKEN" \\
     -d '{"amount":42,"purpose":"FOIA copy fee"}' \\
     http://localhost:9000/api/v1/payments"""

STEP_4 = """curl -H "Authorization: Bearer $TOKEN" \\
     -F "file=@./my_photo.jpg" \\
     http://localhost:9000/api/v1/docs"""


def step_2_token(stack: Stack) -> str:
    """Obtain a demo JWT: ``hms token`` (chapter 7's demo issuer is the local dev issuer)."""
    scopes = ["--scope", "payments.write", "--scope", "payments.read", "--scope", "docs.write"]
    result = subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(stack.root), "token", "--sub", "citizen-42", *scopes],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_steps_2_to_5_of_the_seed_exercise_run_as_written(seed: Stack, tmp_path: Path) -> None:
    token = step_2_token(seed)

    payment = json.loads(shell(seed, STEP_3, token, tmp_path))
    assert (payment["amount"], payment["purpose"], payment["status"]) == (
        "42.00",
        "FOIA copy fee",
        "captured",
    )
    mine = httpx.get(
        f"{seed.url}/api/v1/payments/{payment['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.status_code == 200  # the owner is the token's sub: it reads its own payment

    (tmp_path / "my_photo.jpg").write_bytes(jpeg(600, 600))
    upload = json.loads(shell(seed, STEP_4, token, tmp_path))
    assert upload["url"].startswith("s3://") and upload["content_type"] == "image/jpeg"

    # step 5: kill the Payments "container" and repeat step 4
    payments = [w for w in seed.health()["windows"] if w["name"] == "payments" and w["pid"]]
    assert payments
    for w in payments:
        os.kill(w["pid"], signal.SIGKILL)
    again = json.loads(shell(seed, STEP_4, token, tmp_path))
    assert again["id"] != upload["id"] and again["url"].startswith("s3://")

    # and the payments window's supervisor brings it back
    killed = {w["pid"] for w in payments}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = [w for w in seed.health()["windows"] if w["name"] == "payments"]
        if any(w["state"] == "ready" and w["pid"] not in killed for w in now):
            break
        time.sleep(0.1)
    assert json.loads(shell(seed, STEP_3, token, tmp_path))["purpose"] == "FOIA copy fee"


def test_curls_form_type_carrying_something_other_than_json_is_still_415(seed: Stack) -> None:
    token = seed.token("citizen-43", "payments.write")

    answer = httpx.post(
        f"{seed.url}/api/v1/payments",
        content=b"amount=42&purpose=fee",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 415
    assert answer.headers["content-type"].startswith("application/problem+json")
