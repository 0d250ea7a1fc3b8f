"""The real local stack (`hms up`: emulator, gateway, workers) on free ports, in a copy of the project."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from helpers import ROOT, free_port


@dataclass
class Stack:
    root: Path
    url: str
    aws_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def token(self, sub: str, *scopes: str, ttl: int = 3600) -> str:
        from hms.local.devauth import DevIssuer

        return DevIssuer(self.root / ".hms").mint(sub, scopes, ttl=ttl)

    def health(self) -> dict:
        verify: bool | ssl.SSLContext = True
        if self.url.startswith("https"):
            verify = ssl.create_default_context(cafile=str(self.root / ".hms" / "tls" / "ca.pem"))
        return httpx.get(f"{self.url}/_hms/health", timeout=5, verify=verify).json()

    def worker(self, window: str) -> dict:
        return next(w for w in self.health()["windows"] if w["name"] == window)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def aws_endpoint(self) -> str:
        """The stack's embedded emulator."""
        return f"http://127.0.0.1:{self.aws_port}"

    def subscriptions(self) -> dict[str, dict]:
        """Each subscription's health entry (queue, DLQ, invocations, delivered, failed, in_dlq)."""
        return {s["name"]: s for s in self.health()["events"]["subscriptions"]}


def copy_project(dest: Path) -> Path:
    for part in ("routes", "functions", "layers", "events"):
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 90,
    verify: bool | ssl.SSLContext = True,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hms up exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            health = httpx.get(f"{url}/_hms/health", timeout=2, verify=verify).json()
            if health["windows"] and all(w["state"] in ("ready", "busy") for w in health["windows"]):
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"hms up not ready within {timeout}s:\n{log_path.read_text()}")


def start_stack(root: Path, *extra: str) -> Stack:
    port, aws_port = free_port(), free_port()
    log_path = root / "hms-up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hms.cli",
            "--root",
            str(root),
            "up",
            "--port",
            str(port),
            "--aws-port",
            str(aws_port),
            *extra,
        ],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    url = f"{'https' if '--tls' in extra else 'http'}://127.0.0.1:{port}"
    stack = Stack(root=root, url=url, aws_port=aws_port, proc=proc, log_path=log_path)
    if "--tls" not in extra:
        wait_ready(url, proc, log_path)
    return stack


def stop_stack(stack: Stack) -> int:
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
        try:
            stack.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
            stack.proc.wait()
    return stack.proc.returncode
