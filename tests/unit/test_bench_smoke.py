"""The bench's pure helpers (statistics, child programs, discovery); never timings."""

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


cold = load("cold_start")
runner = load("run")


def test_the_median_of_an_odd_and_an_even_sample() -> None:
    assert cold.median([3.0, 1.0, 2.0]) == 2.0
    assert cold.median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10

    assert cold.percentile(values, 0) == 1.0
    assert cold.percentile(values, 100) == 10.0
    assert cold.percentile(values, 50) == cold.median(values)
    assert cold.percentile(values, 90) == pytest.approx(9.1)
    assert cold.percentile([7.0], 90) == 7.0


def test_statistics_of_nothing_are_refused() -> None:
    with pytest.raises(ValueError):
        cold.median([])
    with pytest.raises(ValueError):
        cold.percentile([], 50)
    with pytest.raises(ValueError):
        cold.percentile([1.0], 101)


def test_a_ratio_is_against_a_positive_baseline() -> None:
    assert cold.ratio(390.0, 300.0) == pytest.approx(1.3)
    with pytest.raises(ValueError):
        cold.ratio(1.0, 0.0)


def test_the_verdict_holds_at_the_goal() -> None:
    assert "ok" in cold.verdict(1.3, 1.3)
    assert "over" in cold.verdict(1.31, 1.3)


def test_a_window_child_imports_the_handler_and_builds_real_deps() -> None:
    code = cold.child_code("payments")

    assert code.startswith("import time\n_t0 = time.perf_counter()")
    assert "from payments import handler as _entry, bootstrap" in code
    assert "bootstrap.deps()" in code
    compile(code, "<child>", "exec")


def test_the_floor_child_imports_the_bare_module() -> None:
    code = cold.child_code(None)

    assert "bench_floor_handler" in code and "payments" not in code
    compile(code, "<child>", "exec")
    compile(cold.FLOOR_MODULE, "bench_floor_handler.py", "exec")


def test_the_child_result_is_the_last_marked_line() -> None:
    out = 'noise\n{"_aws": {}}\nHMS_BENCH {"status": 201, "ms": 12.5}\n'

    assert cold.parse_child_output(out) == {"status": 201, "ms": 12.5}
    with pytest.raises(ValueError):
        cold.parse_child_output("nothing here\n")


def test_the_runner_finds_cold_start_first(tmp_path: Path) -> None:
    for name in ("zeta", "cold_start", "alpha", "run", "_private"):
        (tmp_path / f"{name}.py").write_text("")

    assert runner.bench_names(tmp_path) == ["cold_start", "alpha", "zeta"]
