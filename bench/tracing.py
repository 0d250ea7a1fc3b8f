"""What tracing costs: the gateway bench with the trace recorder on and off in the same run, and the
memory the recorder holds after 10,000 requests.

    .venv/bin/python bench/tracing.py [--seconds 5] [--rounds 2] [--memory-only]

* **gateway**: one ``hms up`` (``bench/gateway.py``'s ``servers``: a copy of the project, the real
  CLI), the same authenticated GET as the gateway bench, wrk at concurrency 1 and 16; recording is
  switched with ``PUT /_hms/api/traces/recording`` between runs, alternating on/off ``--rounds``
  times, so both see the same machine state. Off means the gateway does not even call the recorder.
* **memory**: ``tracemalloc`` around a recorder fed 10,000 requests, (a) a GET each (what the bench
  sends: one entry per trace) and (b) a renewal each (two requests, an event published, a delivery,
  an email: five entries per trace), with the default bounds and with room for all 10,000 traces.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import sys
import tempfile
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table

N_REQUESTS = 10_000


# -- memory ---------------------------------------------------------------------------------------------


class _Binding:
    name = "notifications-RenewalSubmitted"
    consumer = "notifications"
    dlq_name = "hms-notifications-RenewalSubmitted-dlq"


def _feed(recorder: Any, i: int, renewal: bool) -> None:
    cid = f"{i:08x}-6f5c-4d8e-9a61-2b7f0c9e4d11"
    recorder.request(
        correlation_id=cid, request_id=cid, method="GET" if not renewal else "POST",
        path="/api/v1/payments/health" if not renewal else "/api/v1/renewals",
        route="GET /api/v1/payments/health" if not renewal else "POST /api/v1/renewals",
        window="payments" if not renewal else "passport", sub="bench-citizen", status=200, ms=1.2,
    )  # fmt: skip
    if not renewal:
        return
    recorder.request(
        correlation_id=cid, request_id=f"e-{cid}", method="POST", path="/api/v1/eligibility/check",
        route="POST /api/v1/eligibility/check", window="eligibility", sub="bench-citizen", status=200, ms=3.4,
    )  # fmt: skip
    event_id = f"01JD2X7Q4W9V6R3M8K{i:08d}"
    meta = {
        "event_id": event_id,
        "type": "RenewalSubmitted",
        "version": 1,
        "source": "passport",
        "correlation_id": cid,
    }
    recorder.published(
        {"Source": "hms.passport", "DetailType": "RenewalSubmitted", "Detail": json.dumps({"metadata": meta})}
    )
    body = json.dumps({"detail-type": "RenewalSubmitted", "detail": {"metadata": meta, "data": {}}})
    message = {"MessageId": f"m-{i}", "Body": body, "Attributes": {"ApproximateReceiveCount": "1"}}
    recorder.delivered(_Binding(), [message], set(), None, 20.0)
    recorder.email(
        correlation_id=cid, window="notifications", message_id=f"{i:08x}@email.amazonses.com", delivery="sent"
    )


def recorder_bytes(*, renewal: bool, max_traces: int | None) -> tuple[int, int]:
    """Bytes the recorder holds after N_REQUESTS requests (tracemalloc), and the traces it kept."""
    from hms.local.traces import TraceRecorder

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    recorder = TraceRecorder() if max_traces is None else TraceRecorder(max_traces=max_traces)
    for i in range(N_REQUESTS):
        _feed(recorder, i, renewal)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held, recorder.summary()["traces"]


def memory_table() -> Table:
    table = Table(
        title=f"Trace recorder memory after {N_REQUESTS:,} requests (tracemalloc)", title_justify="left"
    )
    for col in ("requests", "bounds", "traces kept", "held", "per request"):
        table.add_column(col, justify="right" if col != "requests" and col != "bounds" else "left")
    for renewal in (False, True):
        for bound in (None, N_REQUESTS):
            held, kept = recorder_bytes(renewal=renewal, max_traces=bound)
            table.add_row(
                "a renewal each (5 entries)" if renewal else "a GET each (1 entry)",
                "default (2,000 traces, 5,000-entry feed)" if bound is None else "room for all 10,000 traces",
                f"{kept:,}",
                f"{held / 1e6:.1f} MB",
                f"{held / N_REQUESTS:,.0f} B",
            )
    return table


# -- gateway --------------------------------------------------------------------------------------------


def _recording(gateway_url: str, enabled: bool) -> None:
    base = gateway_url.split("/api/")[0]
    request = urllib.request.Request(
        f"{base}/_hms/api/traces/recording",
        data=json.dumps({"enabled": enabled}).encode(),
        method="PUT",
        headers={"content-type": "application/json", "x-hms-console": "1"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert json.loads(resp.read())["enabled"] is enabled


def gateway_table(seconds: float, rounds: int, console: Console) -> Table:
    import gateway as gw

    if shutil.which("wrk") is None:
        raise SystemExit(gw.WRK_MISSING)
    results: dict[tuple[str, int], list[Any]] = {}
    with gw.servers(1, console) as (url, token, _raw), tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "done.lua")
        script.write_text(gw.WRK_LUA)
        gw.preflight(url, token)
        headers = [f"Authorization: Bearer {token}"]
        for threads, conns in gw.CONCURRENCY:
            gw.run_wrk(url, threads, conns, 2, script, headers)  # warm-up
            for r in range(rounds):
                for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
                    _recording(url, mode == "on")
                    with console.status(f"tracing {mode}, -c{conns}, round {r + 1}/{rounds}"):
                        results.setdefault((mode, conns), []).append(
                            gw.run_wrk(url, threads, conns, seconds, script, headers)
                        )
        _recording(url, True)
    table = Table(
        title=f"Gateway bench, tracing on vs off (same hms up, alternating, {rounds} x {seconds:g}s each; medians)",
        title_justify="left",
    )
    for col in ("concurrency", "tracing", "requests/s", "p50", "p99", "rps vs off"):
        table.add_column(col, justify="right")
    for _threads, conns in gw.CONCURRENCY:
        off = statistics.median(w.rps for w in results[("off", conns)])
        for mode in ("off", "on"):
            runs = results[(mode, conns)]
            rps = statistics.median(w.rps for w in runs)
            table.add_row(
                str(conns),
                mode,
                f"{rps:,.0f}",
                f"{statistics.median(w.p50_ms for w in runs):.2f} ms",
                f"{statistics.median(w.p99_ms for w in runs):.2f} ms",
                f"{(rps / off - 1) * 100:+.1f}%",
            )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="each timed wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="on/off pairs per concurrency (default 2)")
    parser.add_argument("--memory-only", action="store_true", help="only the recorder's memory")
    args = parser.parse_args()
    console = Console()
    console.print(memory_table())
    if not args.memory_only:
        console.print(gateway_table(args.seconds, args.rounds, console))
    return 0


if __name__ == "__main__":
    sys.exit(main())
