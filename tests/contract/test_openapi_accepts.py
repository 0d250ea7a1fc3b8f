"""What docs/openapi.json allows, the windows accept: each schemathesis finding pinned as a test.

The document's own JSON Schemas (read from the generated file, as a client does) are checked with a
JSON Schema validator against the models that judge the requests, on the values schemathesis found
and on values hypothesis draws from the document's patterns. The running stack is fuzzed in
``tests/e2e/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hmskit import jsonbody
from hmskit.currencies import MINOR_UNITS
from hmskit.cursors import Cursors
from hmskit.ids import new_id

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


def schema_of(name: str) -> dict[str, Any]:
    return {**DOCUMENT["components"]["schemas"][name], "components": DOCUMENT["components"]}


def allows(name: str, value: Any) -> bool:
    resolver = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    return jsonschema.Draft202012Validator(resolver).is_valid(value)


def query_schema(path: str, name: str) -> dict[str, Any]:
    params = DOCUMENT["paths"][path]["get"]["parameters"]
    return next(p["schema"] for p in params if p.get("name") == name)


# -- cursors: any id the document allows continues a page ------------------------------------------


class BadCursorError(Exception):
    pass


@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/notifications", "/api/v1/renewals"])
def test_a_cursor_is_documented_as_exactly_the_ids_the_window_accepts(path: str) -> None:
    pattern = re.compile(query_schema(path, "cursor")["pattern"])
    cursors = Cursors("PAYMENT#", BadCursorError)
    issued = cursors.encode("PAYMENT#" + new_id())

    assert pattern.fullmatch(issued)
    assert cursors.decode(issued) == "PAYMENT#" + issued
    assert not pattern.fullmatch("0" * 600) and not pattern.fullmatch("eyJhZnRlciI6IlBBWU1FTlQjMDEifQ")
    with pytest.raises(BadCursorError):
        cursors.decode("0" * 600)  # schemathesis' finding: allowed by maxLength 512, refused


@given(st.from_regex(r"\A[0-9A-HJKMNP-TV-Z]{26}\Z"))
@settings(max_examples=50, deadline=None)
def test_every_cursor_the_pattern_allows_decodes(cursor: str) -> None:
    assert Cursors("RENEWAL#", BadCursorError).decode(cursor) == "RENEWAL#" + cursor


# -- money: per currency, as the model validates it --------------------------------------------------


def create_payment(body: dict[str, Any]) -> Any:
    from payments.models import CreatePayment

    return CreatePayment.model_validate(jsonbody.loads(json.dumps(body).encode()))


def accepted(body: dict[str, Any]) -> bool:
    try:
        create_payment(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.234", "BHD"), ("0.001", "KWD"), ("12.50", "USD"), ("1000", "JPY"), ("1000000", "USD"), (7, "EUR")],
)
def test_an_amount_with_the_currencys_places_is_allowed_and_accepted(amount: Any, currency: str) -> None:
    body = {"amount": amount, "currency": currency, "purpose": "fee"}

    assert allows("CreatePayment", body)
    assert accepted(body)
    assert str(create_payment(body).amount) == str(
        Decimal(str(amount)).quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))
    )


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 5e-324, "purpose": "fee"},  # schemathesis' finding: a tiny JSON number
        {"amount": "1.234", "currency": "USD", "purpose": "fee"},
        {"amount": "1.5", "currency": "JPY", "purpose": "fee"},
        {"amount": "1000000.01", "purpose": "fee"},  # the maximum applies to strings too
        {"amount": "9999999", "purpose": "fee"},
        {"amount": "0", "purpose": "fee"},
        {"amount": "+1", "purpose": "fee"},
        {"amount": ".5", "purpose": "fee"},
        {"amount": "12.50", "currency": "ABC", "purpose": "fee"},
        {"amount": "12.50", "purpose": "   "},  # a blank purpose: stripped, then empty
    ],
)
def test_a_body_the_model_refuses_is_not_allowed_by_the_document(body: dict[str, Any]) -> None:
    assert not accepted(body)
    assert not allows("CreatePayment", body)


@given(
    st.sampled_from(sorted(MINOR_UNITS)),
    st.from_regex(r"\A[0-9]{1,8}(\.[0-9]{1,4})?\Z"),
)
@settings(max_examples=300, deadline=None)
def test_for_plain_decimal_strings_the_document_and_the_model_agree(currency: str, amount: str) -> None:
    body = {"amount": amount, "currency": currency, "purpose": "passport renewal fee"}

    assert allows("CreatePayment", body) == accepted(body)


# -- text, ids, dates, uploads ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SubmitRenewal", "CheckRequest"])
def test_a_blank_name_and_an_empty_document_id_are_not_allowed(name: str) -> None:
    full_name = schema_of(name)["properties"]["full_name"]
    ids = schema_of(name)["properties"]["name_change_document_ids"]["anyOf"][0]

    assert not jsonschema.Draft202012Validator(full_name).is_valid("   ")
    assert jsonschema.Draft202012Validator(full_name).is_valid(" Jane ")
    assert not jsonschema.Draft202012Validator(ids).is_valid([""])  # schemathesis' finding
    assert jsonschema.Draft202012Validator(ids).is_valid([new_id()])


def test_the_mailing_address_states_the_countries_and_postal_codes_the_model_takes() -> None:
    from passport.models import MailingAddress

    address = schema_of("MailingAddress")
    base = {"line1": "1 High St", "city": "Springfield", "state": "IL"}
    for country, postal_code in [("GB", "SW1A 1AA"), ("US", "62701")]:
        value = {**base, "country": country, "postal_code": postal_code}
        assert jsonschema.Draft202012Validator(address).is_valid(value)
        MailingAddress.model_validate(value)
    for country, postal_code in [("XX", "62701"), ("US", "-"), ("US", "")]:
        value = {**base, "country": country, "postal_code": postal_code}
        assert not jsonschema.Draft202012Validator(address).is_valid(value)
        with pytest.raises(ValidationError):
            MailingAddress.model_validate(value)


def test_a_presigned_upload_documents_its_types_and_takes_an_integral_json_number_as_its_size() -> None:
    from documents.models import StartUpload

    text = b'{"content_type": "image/png", "size": 1764616.0}'  # schemathesis' finding

    assert allows("StartUpload", json.loads(text))
    assert StartUpload.model_validate(jsonbody.loads(text)).size == 1764616
    assert not allows("StartUpload", {"content_type": "0" * 99, "size": 1})
    assert not allows("StartUpload", {"content_type": "image/png", "size": 100 * 1024 * 1024 + 1})


def test_the_upload_form_allows_a_pdf_or_a_photo_and_never_an_empty_file() -> None:
    from documents import domain
    from documents.api_contract import PDF_EXAMPLE

    example = DOCUMENT["paths"]["/api/v1/docs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    (value,) = (e["value"] for e in example["examples"].values())

    assert value["file"] == PDF_EXAMPLE and allows("UploadForm", value)
    domain.photos.check(PDF_EXAMPLE.encode(), domain.photos.PDF, kind=value["kind"])  # accepted as it is
    assert not allows("UploadForm", {"file": ""})  # schemathesis' finding: an empty file is 422
    assert not allows("UploadForm", {"file": "<the bytes of a JPEG>", "kind": "other"})
    assert allows("UploadForm", {"file": "(a JPEG)", "kind": "photo"})  # the rules are stated in words
    assert not allows("UploadForm", {"file": PDF_EXAMPLE, "renewal_id": None})  # a form has no null


def test_the_idempotency_key_says_a_committed_retry_replays_and_when_409_comes() -> None:
    text = DOCUMENT["components"]["parameters"]["IdempotencyKey"]["description"]

    assert "replays" in text and "409" in text
    assert "still runs is 409" not in text


# -- the long run's findings --------------------------------------------------------------------------


def test_an_email_with_a_control_character_is_not_allowed() -> None:
    email = schema_of("SubmitRenewal")["properties"]["email"]["anyOf"][0]

    assert jsonschema.Draft202012Validator(email).is_valid("alice@example.org")
    assert not jsonschema.Draft202012Validator(email).is_valid("\u00f8\u001b@x.org")  # schemathesis' finding


@pytest.mark.parametrize("path", ["/api/v1/payments", "/api/v1/notifications", "/api/v1/renewals"])
def test_an_empty_cursor_is_allowed_and_is_the_first_page(path: str) -> None:
    assert re.fullmatch(query_schema(path, "cursor")["pattern"], "")


def test_a_blank_renewal_id_form_field_is_allowed_and_means_none() -> None:
    from documents.models import UploadFields

    assert allows("UploadForm", {"file": "%PDF-1.7", "renewal_id": "  "})
    assert UploadFields.model_validate({"renewal_id": "  "}).renewal_id is None
    assert not allows("UploadForm", {"file": "%PDF-1.7", "renewal_id": "a b"})
