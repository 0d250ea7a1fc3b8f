"""Event contracts: committed schemas match the models, stored samples of every version still parse,
and the topology only names real contracts and windows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import ROOT

from hms.eventschemas import SCHEMAS_DIR, render_schemas, schema_filename
from hms.manifest import ManifestErrors
from hms.model import load_platform
from hms.topology import load_topology
from hmskit.contracts import (
    CONTRACTS,
    ContractError,
    PaymentCapturedV1,
    build,
    current,
    parse_detail,
)

SAMPLES = ROOT / "events" / "samples"


def _samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.json"))


def test_committed_schemas_match_the_contracts() -> None:
    for path, content in render_schemas(ROOT).items():
        assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make template`"
        assert path.read_text() == content, f"{path.relative_to(ROOT)} drifted: run `make template`"


def test_no_schema_file_without_a_contract() -> None:
    expected = {p.name for p in render_schemas(ROOT)}
    assert {p.name for p in (ROOT / SCHEMAS_DIR).glob("*.json")} == expected


def test_hms_template_check_reports_a_stale_schema(tmp_path: Path) -> None:
    for name in ("routes", "functions", "events", "layers"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    schema = tmp_path / SCHEMAS_DIR / schema_filename("PaymentCaptured", 1)
    schema.write_text(schema.read_text().replace('"currency"', '"kurrency"', 1))

    out = subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(tmp_path), "template", "--check"],
        capture_output=True,
        text=True,
    )

    assert out.returncode == 1
    assert "PaymentCaptured.v1.json (committed)" in out.stdout


def test_every_contract_version_has_a_stored_sample() -> None:
    stored = {p.name for p in _samples()}
    for event_type, version in CONTRACTS:
        assert schema_filename(event_type, version) in stored, f"no sample of {event_type} v{version}"


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: p.name)
def test_every_stored_sample_validates_against_its_schema(sample: Path) -> None:
    detail = json.loads(sample.read_text())
    schema = json.loads((ROOT / SCHEMAS_DIR / sample.name).read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(detail)


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: p.name)
def test_every_stored_sample_of_any_version_parses_with_the_current_model(sample: Path) -> None:
    """The compatibility rule: consumers always parse with the newest model of a type."""
    detail = json.loads(sample.read_text())

    event = parse_detail(detail)

    assert isinstance(event.data, current(detail["metadata"]["type"]))
    assert event.id == detail["metadata"]["event_id"]
    assert event.metadata.correlation_id == detail["metadata"]["correlation_id"]


def test_a_published_event_validates_against_the_registered_schema() -> None:
    data = PaymentCapturedV1(
        payment_id="01JD2XA0RG8K4T1P9N6D3B5W2X",
        owner="alice",
        amount="12.50",
        currency="GBP",
        purpose="fee",
        captured_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    event = build(data, event_id="E1", source="payments", time=datetime.now(UTC), correlation_id="r-1")
    schema = json.loads((ROOT / SCHEMAS_DIR / "PaymentCaptured.v1.json").read_text())

    jsonschema.Draft4Validator(schema).validate(event.detail())
    assert parse_detail(json.dumps(event.detail())).data == data


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["metadata"].update(type="PaymentRefunded"), "unknown event type"),
        (lambda d: d["data"].pop("payment_id"), "payment_id"),
        (lambda d: d["data"].update(amount=12.5), "amount"),  # money is never a float on the bus
        (lambda d: d.pop("metadata"), "metadata"),
    ],
)
def test_an_event_outside_every_contract_is_refused_with_the_reason(mutate: Any, reason: str) -> None:
    detail = json.loads((SAMPLES / "PaymentCaptured.v1.json").read_text())
    mutate(detail)

    with pytest.raises(ContractError, match=reason):
        parse_detail(detail)


def test_a_newer_version_parses_with_an_older_consumers_model() -> None:
    """A publisher deployed before its consumer: v2 (one more optional field) reaches a v1 consumer."""
    detail = json.loads((SAMPLES / "PaymentCaptured.v1.json").read_text())
    detail["metadata"]["version"] = 2
    detail["data"]["installment"] = {"number": 1, "of": 3}

    event = parse_detail(detail)

    assert isinstance(event.data, PaymentCapturedV1) and event.metadata.version == 2
    assert event.data.amount == "130.00"


def test_a_newer_minor_field_does_not_break_an_older_consumer() -> None:
    detail = json.loads((SAMPLES / "PaymentCaptured.v1.json").read_text())
    detail["data"]["receipt_url"] = "https://example.gov/receipts/1"

    assert parse_detail(detail).data.payment_id == detail["data"]["payment_id"]  # type: ignore[attr-defined]


# -- the topology -------------------------------------------------------------------------------------


def test_the_committed_topology_loads_with_every_pair_a_subscription() -> None:
    topology = load_platform(ROOT).topology
    assert topology.publishers == {
        "RenewalSubmitted": "passport",
        "PaymentCaptured": "payments",
        "DocumentUploaded": "documents",
        "RenewalReadyForReview": "passport",
    }
    assert {s.name for s in topology.subscriptions} == {
        "notifications-RenewalSubmitted",
        "notifications-PaymentCaptured",
        "notifications-RenewalReadyForReview",
        "passport-PaymentCaptured",
        "passport-DocumentUploaded",
    }
    sub = topology.subscription("passport-PaymentCaptured")
    assert sub.pattern() == {"source": ["hms.payments"], "detail-type": ["PaymentCaptured"]}


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            "events:\n  PaymentRefunded: {publisher: payments, consumers: []}\n",
            "events.PaymentRefunded",
            "no contract",
        ),
        ("events:\n  PaymentCaptured: {publisher: billing, consumers: []}\n", "publisher", "not a window"),
        (
            "events:\n  PaymentCaptured: {publisher: payments, consumers: [ghost]}\n",
            "consumers[0]",
            "not a window",
        ),
        (
            "events:\n  PaymentCaptured: {publisher: payments, consumers: [passport, passport]}\n",
            "consumers[1]",
            "twice",
        ),
        ("events: {}\ndelivery: {max_receive_count: 0}\n", "delivery.max_receive_count", "greater than 0"),
        ("events: {}\ndelivery: {batch_size: 11}\n", "delivery.batch_size", "at most 10"),
        ("events: [\n", "(document)", "invalid YAML"),
        ("events: {}\nbus: x\n", "bus", "unknown field"),
    ],
)
def test_a_bad_topology_names_the_file_the_field_and_the_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "topology.yaml").write_text(text)

    with pytest.raises(ManifestErrors) as info:
        load_topology(tmp_path, {"payments", "passport", "notifications"})

    message = str(info.value)
    assert "events/topology.yaml" in message and field in message and reason in message
