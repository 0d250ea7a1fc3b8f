"""One rule for a renewal id wherever a window's model names one: the id the passport window mints."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ValidationError
from support.kit import FakeClock

from documents.models import StartUpload, UploadFields
from hmskit.ids import RenewalId, is_id, new_id
from passport.bootstrap import Deps
from payments.models import CreatePayment
from payments.models_v2 import CreatePaymentV2

MINTED = new_id()
REFUSED = [
    "not-an-id",
    "",
    "R-1",
    "01JRENEWAL",
    "01ARZ3NDEKTSV4RRFFQ69G5FA",
    "01arz3ndektsv4rrffq69g5fav",
    "x" * 64,
]


def accepts(model: type[BaseModel], renewal_id: object, **fields: object) -> bool:
    try:
        model.model_validate({**fields, "renewal_id": renewal_id})
    except ValidationError:
        return False
    return True


MODELS: list[tuple[type[BaseModel], dict[str, object]]] = [
    (CreatePayment, {"amount": "130.00", "purpose": "fee"}),
    (CreatePaymentV2, {"amount": {"value": "130.00", "currency": "USD"}, "purpose": "fee"}),
    (UploadFields, {}),
    (StartUpload, {"content_type": "image/jpeg", "size": 10}),
]


@pytest.mark.parametrize(("model", "fields"), MODELS, ids=lambda m: getattr(m, "__name__", ""))
def test_every_window_accepts_the_renewal_id_passport_mints_and_nothing_else(
    model: type[BaseModel], fields: dict[str, object]
) -> None:
    refused = [r for r in REFUSED if not (model is UploadFields and r == "")]  # a blank form field is none

    assert accepts(model, MINTED, **fields)
    assert [r for r in refused if accepts(model, r, **fields)] == []


def test_passport_mints_its_renewal_ids_by_the_same_rule() -> None:
    deps = SimpleNamespace(clock=FakeClock())

    assert is_id(Deps.new_id(deps))  # type: ignore[arg-type]


def test_the_rule_states_the_same_pattern_in_every_schema() -> None:
    class Named(BaseModel):
        renewal_id: RenewalId

    schema = Named.model_json_schema()["properties"]["renewal_id"]
    for model, _ in MODELS:
        branches = model.model_json_schema()["properties"]["renewal_id"]["anyOf"]
        assert {"type": "string", "pattern": schema["pattern"]} in branches


def test_the_rule_is_read_without_loading_pydantic() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; import hmskit.ids; print('pydantic' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": "layers"},
    )
    assert out.stdout.strip() == "False"
