"""`hms up` as a process: taken ports, clean shutdown, HTTPS, and an external endpoint."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2e_support import copy_project, start_stack, stop_stack, wait_ready
from helpers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigint_stops_everything_and_a_second_up_on_taken_ports_fails_fast(tmp_path: Path) -> None:
    stack = start_stack(copy_project(tmp_path))
    port = int(stack.url.rsplit(":", 1)[1])
    pids = [w["pid"] for w in stack.health()["windows"]]
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "hms.cli",
                "--root",
                str(stack.root),
                "up",
                "--port",
                str(port),
                "--aws-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert f"127.0.0.1:{port}" in second.stderr and "--port" in second.stderr
        # It failed fast because it failed first: the port check runs before anything is started,
        # so the second `up` never started an emulator on its --aws-port nor touched the running
        # stack's workers. Proved by what it did, not by a stopwatch.
        assert "cannot serve the gateway" in second.stderr
        assert [w["pid"] for w in stack.health()["windows"]] == pids
    finally:
        assert stop_stack(stack) == 0
    assert not listening(port) and not listening(stack.aws_port)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_sigterm_stops_everything_too(tmp_path: Path) -> None:
    stack = start_stack(copy_project(tmp_path))
    port = int(stack.url.rsplit(":", 1)[1])
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=20) == 0
    assert not listening(port) and not listening(stack.aws_port)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_tls_serves_https_that_curl_trusts_with_the_local_ca(tmp_path: Path) -> None:
    stack = start_stack(copy_project(tmp_path), "--tls")
    try:
        ca = stack.root / ".hms" / "tls" / "ca.pem"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ca.exists():
            time.sleep(0.2)
        wait_ready(stack.url, stack.proc, stack.log_path, verify=ssl.create_default_context(cafile=str(ca)))
        token = stack.token("alice", "payments.read")
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                str(ca),
                "-H",
                f"Authorization: Bearer {token}",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                f"{stack.url}/api/v1/payments",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.stdout == "200", out.stderr
        insecure = subprocess.run(
            ["curl", "-sS", f"{stack.url}/api/v1/payments"], capture_output=True, text=True
        )
        assert insecure.returncode != 0  # not trusted without the CA
    finally:
        stop_stack(stack)


def test_endpoint_flag_provisions_and_runs_against_an_external_emulator(tmp_path: Path) -> None:
    """The LocalStack path, tested against a moto server started separately, as a developer would."""
    aws_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(aws_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not listening(aws_port):
            assert time.monotonic() < deadline, "moto did not start"
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{aws_port}"
        stack = start_stack(copy_project(tmp_path), "--endpoint", endpoint)
        try:
            assert stack.health()["aws_endpoint"] == endpoint
            token = stack.token("alice", "payments.write", "payments.read")
            r = httpx.post(
                f"{stack.url}/api/v1/payments",
                headers={"authorization": f"Bearer {token}"},
                json={"amount": "9.99", "purpose": "external endpoint"},
            )
            assert r.status_code == 201, r.text
        finally:
            stop_stack(stack)
        import boto3

        ddb = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        items = ddb.scan(TableName="hms-payments")["Items"]
        assert any(i.get("purpose", {}).get("S") == "external endpoint" for i in items)
        assert listening(aws_port), "hms up must not stop an emulator it did not start"
    finally:
        moto.terminate()
        moto.wait(timeout=10)
