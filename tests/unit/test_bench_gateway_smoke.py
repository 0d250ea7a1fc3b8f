"""The gateway bench's wrk-output parser and helpers; never timings, never a server or wrk."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hms_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gw = load("gateway")

# wrk 4.1.0 with --latency and the bench's Lua done() hook (figures trimmed from a real run)
WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:40001/api/v1/payments/health
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.12us  120.40us   4.20ms   95.00%
    Req/Sec     3.21k   210.00     3.50k    80.00%
  Latency Distribution
     50%  267.00us
     75%  301.00us
     90%  350.00us
     99%    2.17ms
  16050 requests in 5.00s, 3.91MB read
Requests/sec:   3210.00
Transfer/sec:    800.00KB
HMS_WRK {"requests":16050,"duration_us":5000000,"bytes":4100000,"connect":0,"read":0,"write":0,\
"status":0,"timeout":0,"p50_us":267.0,"p90_us":350.0,"p99_us":2171.0,"mean_us":310.1,"max_us":4200.0}
"""

WRK_ERRORS = """\
Running 5s test @ http://127.0.0.1:40001/api/v1/payments/health
  2 threads and 16 connections
  Latency Distribution
     50%   44.01ms
     75%   47.98ms
     90%   48.03ms
     99%    1.02s
  1699 requests in 5.03s, 422.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    337.77
Transfer/sec:     83.90KB
"""


def test_the_lua_line_wins_with_microsecond_percentiles() -> None:
    r = gw.parse_wrk(WRK_OUTPUT)

    assert r.requests == 16050
    assert r.rps == pytest.approx(3210.0)
    assert r.p50_ms == pytest.approx(0.267)
    assert r.p99_ms == pytest.approx(2.171)
    assert r.errors == 0


def test_the_text_report_alone_is_enough() -> None:
    text_only = "\n".join(line for line in WRK_OUTPUT.splitlines() if not line.startswith("HMS_WRK"))

    assert gw.parse_wrk_lua(text_only) is None
    r = gw.parse_wrk(text_only)
    assert r.requests == 16050
    assert r.rps == pytest.approx(3210.0)
    assert r.p50_ms == pytest.approx(0.267)
    assert r.p99_ms == pytest.approx(2.17)


def test_errors_and_every_time_unit_are_read() -> None:
    r = gw.parse_wrk_text(WRK_ERRORS)

    assert r.rps == pytest.approx(337.77)
    assert r.p50_ms == pytest.approx(44.01)
    assert r.p99_ms == pytest.approx(1020.0)
    assert (r.non_2xx, r.socket_errors, r.errors) == (7, 5, 12)
    assert [gw.to_ms(t) for t in ("635.00us", "1.23ms", "2.00s", "1.50m")] == pytest.approx(
        [0.635, 1.23, 2000.0, 90_000.0]
    )


def test_output_without_figures_is_refused() -> None:
    with pytest.raises(ValueError, match="latency distribution"):
        gw.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(ValueError):
        gw.to_ms("12 parsecs")


def test_the_ratio_and_the_wrk_command() -> None:
    assert gw.rps_ratio(1000.0, 4000.0) == 0.25
    with pytest.raises(ValueError):
        gw.rps_ratio(1.0, 0.0)
    cmd = gw.wrk_command("http://127.0.0.1:1/x", 2, 16, 5, Path("/t/d.lua"), ["Authorization: Bearer t"])
    assert cmd == [
        "wrk",
        "-t2",
        "-c16",
        "-d5s",
        "--latency",
        "--timeout",
        "2s",
        "-s",
        "/t/d.lua",
        "-H",
        "Authorization: Bearer t",
        "http://127.0.0.1:1/x",
    ]


def test_the_lua_hook_prints_every_field_the_parser_reads() -> None:
    for field in (
        "requests",
        "duration_us",
        "connect",
        "read",
        "write",
        "status",
        "timeout",
        "p50_us",
        "p99_us",
    ):
        assert f'"{field}":' in gw.WRK_LUA
