"""template.yaml, concurrency: each window's reserved concurrency and its queues' maximum concurrency
come from the manifest's ``window.concurrency``, the same setting ``hms up`` caps its environments at."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import yaml
from test_template import ROOT

from hms.model import load_platform
from hms.template import render


def resources(text: str) -> dict[str, dict]:
    return yaml.safe_load(text)["Resources"]


def test_each_function_reserves_its_manifest_concurrency() -> None:
    platform = load_platform(ROOT)
    res = resources((ROOT / "template.yaml").read_text())
    for w in platform.windows:
        assert res[w.function_id]["Properties"]["ReservedConcurrentExecutions"] == w.concurrency


def test_queue_mappings_together_stay_within_the_consumers_reserved_concurrency() -> None:
    platform = load_platform(ROOT)
    res = resources((ROOT / "template.yaml").read_text())
    reserved = {w.function_id: w.concurrency for w in platform.windows}
    used: dict[str, int] = defaultdict(int)
    mappings = 0
    for r in res.values():
        props = r["Properties"]
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and "ScalingConfig" in props:
            maximum = props["ScalingConfig"]["MaximumConcurrency"]
            assert 2 <= maximum <= 1000  # SQS's range
            used[props["FunctionName"]["Ref"]] += maximum
            mappings += 1
    assert mappings == len(platform.topology.subscriptions)
    for function, total in used.items():
        assert total <= reserved[function], function


def test_a_manifest_concurrency_reaches_the_template(tmp_path: Path) -> None:
    import shutil

    for part in ("routes", "functions", "layers", "events"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = tmp_path / "routes" / "notifications.yaml"
    text = manifest.read_text()
    assert "concurrency" not in text
    assert "\nwindow:\n" in text
    text = text.replace("\nwindow:\n", "\nwindow:\n  concurrency: 30\n", 1)
    manifest.write_text(text)
    platform = load_platform(tmp_path)
    res = resources(render(platform))
    fn = platform.window("notifications").function_id
    assert res[fn]["Properties"]["ReservedConcurrentExecutions"] == 30
    maxima = [
        r["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        for r in res.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"].get("FunctionName") == {"Ref": fn}
        and "ScalingConfig" in r["Properties"]
    ]
    assert maxima and all(m == 30 // len(maxima) for m in maxima)
