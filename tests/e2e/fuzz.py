"""schemathesis over ``docs/openapi.json`` against a running local stack, and its figures.

``make test`` runs a bounded pass (``test_openapi_fuzz.py``: positive mode, a fixed seed, a few
examples per operation); ``make fuzz`` runs this module for a longer one (positive and negative data,
every check, more examples) in a copy of the project and prints the figures. Both fail on any 5xx and
on any failure schemathesis reports. The hooks (``fuzz_hooks.py``) make every request a new citizen
and give a passport photo a real JPEG.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OPENAPI = ROOT / "docs" / "openapi.json"
SEED = 20261204
# positive data only: every request the document allows must be accepted (2xx, or a documented
# 401/403/404/409/429), answered as documented, and never a 5xx
BOUNDED = ("--mode", "positive", "--max-examples", "3", "--phases", "examples,coverage,fuzzing")
LONG = ("--mode", "all", "--max-examples", "60", "--checks", "all")
# 413 is how a presigned upload's size over the limit is refused (documented): a rejection too
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
"""
_FAILURE_LINE = re.compile(r"^\s*\S+ (ST\d+) ([^:]+): (\d+)\s*$")


@dataclass
class FuzzResult:
    returncode: int
    output: str
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, int] = field(default_factory=dict)  # "ST202 Schema-valid request rejected" -> n

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        by_class = ", ".join(f"{s // 100}xx: {n}" for s, n in sorted(_by_class(self.statuses).items()))
        failures = ", ".join(f"{k}: {n}" for k, n in self.failures.items()) or "none"
        return f"{self.requests} requests ({by_class}); 5xx: {self.server_errors}; failures: {failures}"


def _by_class(statuses: Counter[int]) -> Counter[int]:
    out: Counter[int] = Counter()
    for status, n in statuses.items():
        out[status // 100 * 100] += n
    return out


def all_scopes(root: Path = ROOT) -> list[str]:
    """Every scope a manifest route names: the fuzzing citizen may call every operation."""
    from hms.model import load_platform

    platform = load_platform(root)
    return sorted({s for w in platform.windows for r in w.routes for s in r.scopes})


def run(url: str, state_dir: Path, args: tuple[str, ...], *, seed: int = SEED) -> FuzzResult:
    """schemathesis' CLI against ``url`` (tokens from the dev issuer in ``state_dir``)."""
    with tempfile.TemporaryDirectory(prefix="hms-fuzz-") as tmp:
        statuses = Path(tmp) / "statuses"
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "fuzz_hooks",
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "HMS_FUZZ_STATE": str(state_dir),
            "HMS_FUZZ_SCOPES": " ".join(all_scopes()),
            "HMS_FUZZ_STATUSES": str(statuses),
        }
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(CONFIG, encoding="utf-8")
        cmd = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            str(OPENAPI),
            "--url",
            url,
            "--seed",
            str(seed),
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "too_slow",
            *args,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, check=False)
        counted: Counter[int] = Counter()
        if statuses.exists():
            for line in statuses.read_text(encoding="ascii").splitlines():
                counted[int(line.split()[0])] += 1
    output = proc.stdout + proc.stderr
    failures = {}
    in_failures = False
    for line in output.splitlines():
        if line.strip() == "Failures:":
            in_failures = True
            continue
        if in_failures:
            m = _FAILURE_LINE.match(line)
            if not m:
                break
            failures[f"{m.group(1)} {m.group(2)}"] = int(m.group(3))
    return FuzzResult(proc.returncode, output, counted, failures)


def main() -> int:
    parser = argparse.ArgumentParser(description="make fuzz: schemathesis over docs/openapi.json")
    parser.add_argument("--max-examples", type=int, default=60)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--mode", default="all", choices=("positive", "negative", "all"))
    parser.add_argument("extra", nargs="*", help="more schemathesis options (after --)")
    ns = parser.parse_args()
    sys.path[:0] = [str(HERE), str(ROOT / "tests")]
    from e2e_support import copy_project, start_stack, stop_stack

    with tempfile.TemporaryDirectory(prefix="hms-fuzz-project-") as tmp:
        stack = start_stack(copy_project(Path(tmp)))
        try:
            args = ("--mode", ns.mode, "--max-examples", str(ns.max_examples), "--checks", "all", *ns.extra)
            result = run(stack.url, stack.root / ".hms", args, seed=ns.seed)
        finally:
            stop_stack(stack)
    print(result.output)
    print(json.dumps({"seed": ns.seed, "max_examples": ns.max_examples, "mode": ns.mode}))
    print("make fuzz:", result.summary())
    return 0 if result.returncode == 0 and result.server_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
