"""The only code that knows how a renewal is stored, and how eligibility is asked.

Item: ``pk = OWNER#<sub>``, ``sk = RENEWAL#<id>``, read and listed by its owner (``hmskit.owned``;
for an event, the event's ``owner``). The full passport number is stored (an officer needs it);
only the HTTP view masks it. The table also holds the outbox (``pk = OUTBOX``), the idempotency
records and the rate-limit counters of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from hmskit.cursors import Cursors
from hmskit.owned import OwnedItems, owner_pk
from hmskit.store import TableStore, TransactionConflictError
from passport.domain import (
    Address,
    Application,
    Decision,
    EligibilityAnswerError,
    EligibilityForbiddenError,
    EligibilityInvalidError,
    InvalidCursorError,
    Page,
    Reason,
    Recorded,
    Renewal,
    StaleRenewalError,
)

if TYPE_CHECKING:
    from hmskit.a2a import A2AResponse
    from hmskit.idempotency import EventMarks, Idempotency
    from hmskit.outbox import Outbox

_PREFIX = "RENEWAL#"
#: The attributes a saga step may change, and the steps whose presence a write is conditioned on.
_STEP_ATTRIBUTES = (
    "status",
    "updated_at",
    "payment_id",
    "paid_at",
    "photo_document_id",
    "photo_received_at",
    "ready_for_review_at",
)
_STEPS = ("payment_id", "photo_document_id")


_CURSORS = Cursors(_PREFIX, InvalidCursorError)
encode_cursor = _CURSORS.encode
decode_cursor = _CURSORS.decode


# -- items ------------------------------------------------------------------------------------------


def renewal_item(renewal: Renewal) -> dict[str, Any]:
    address = {k: v for k, v in renewal.mailing_address.public().items() if v is not None}
    return {
        "pk": owner_pk(renewal.owner),
        "sk": _PREFIX + renewal.id,
        "type": "renewal",
        "id": renewal.id,
        "owner": renewal.owner,
        "status": renewal.status,
        "full_name": renewal.full_name,
        "date_of_birth": renewal.date_of_birth.isoformat(),
        "passport_number": renewal.passport_number,
        "passport_issued_on": renewal.passport_issued_on.isoformat(),
        "passport_expires_on": renewal.passport_expires_on.isoformat(),
        "mailing_address": address,
        "email": renewal.email,
        "name_on_passport": renewal.name_on_passport,
        "name_change_document_ids": list(renewal.name_change_document_ids),
        "eligibility_checked_on": renewal.eligibility_checked_on,
        "submitted_at": renewal.submitted_at,
        "updated_at": renewal.updated_at,
        "payment_id": renewal.payment_id,
        "paid_at": renewal.paid_at,
        "photo_document_id": renewal.photo_document_id,
        "photo_received_at": renewal.photo_received_at,
        "ready_for_review_at": renewal.ready_for_review_at,
    }


def _opt(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return None if value is None else str(value)


def renewal_of(item: Mapping[str, Any]) -> Renewal:
    address = item["mailing_address"]
    return Renewal(
        id=str(item["id"]),
        owner=str(item["owner"]),
        status=str(item["status"]),
        full_name=str(item["full_name"]),
        date_of_birth=date.fromisoformat(str(item["date_of_birth"])),
        passport_number=str(item["passport_number"]),
        passport_issued_on=date.fromisoformat(str(item["passport_issued_on"])),
        passport_expires_on=date.fromisoformat(str(item["passport_expires_on"])),
        mailing_address=Address(
            line1=str(address["line1"]),
            line2=_opt(address, "line2"),
            city=str(address["city"]),
            state=str(address["state"]),
            postal_code=str(address["postal_code"]),
            country=str(address["country"]),
        ),
        email=_opt(item, "email"),
        name_on_passport=_opt(item, "name_on_passport"),
        name_change_document_ids=tuple(str(d) for d in item.get("name_change_document_ids") or ()),
        eligibility_checked_on=str(item["eligibility_checked_on"]),
        submitted_at=str(item["submitted_at"]),
        updated_at=str(item["updated_at"]),
        payment_id=_opt(item, "payment_id"),
        paid_at=_opt(item, "paid_at"),
        photo_document_id=_opt(item, "photo_document_id"),
        photo_received_at=_opt(item, "photo_received_at"),
        ready_for_review_at=_opt(item, "ready_for_review_at"),
    )


def _step_changes(before: Renewal, after: Renewal) -> dict[str, Any]:
    """The attributes a step sets (a step never clears one)."""
    changes = {}
    for attr in _STEP_ATTRIBUTES:
        value = getattr(after, attr)
        if value is not None and value != getattr(before, attr):
            changes[attr] = value
    return changes


# -- the table --------------------------------------------------------------------------------------


class DynamoRenewalRepository:
    def __init__(
        self,
        store: TableStore,
        outbox: Outbox,
        claims: Idempotency | None = None,
        marks: EventMarks | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._marks = marks
        self._items = OwnedItems(store, _CURSORS, renewal_of, outbox=outbox, claims=claims)

    def add(self, renewal: Renewal, event: Recorded) -> None:
        self._items.create(renewal_item(renewal), [event])

    def recorded(self, owner: str) -> Renewal | None:
        return self._items.recorded(owner)

    def get(self, owner: str, renewal_id: str) -> Renewal | None:
        return self._items.get(owner, renewal_id)

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return Page(*self._items.page(owner, limit=limit, cursor=cursor))

    def advance(self, before: Renewal, after: Renewal, event: Recorded | None) -> None:
        """One transaction: the update, conditioned on the status read and on each step being
        exactly as read (absent, or the same id), plus the event's outbox item when there is one,
        plus the consumed event's dedupe marker (``AlreadyAppliedError`` when it is there)."""
        expect: dict[str, Any] = {"status": before.status}
        absent: list[str] = []
        for step in _STEPS:
            value = getattr(before, step)
            if value is None:
                absent.append(step)
            else:
                expect[step] = value
        ops = [
            self._store.update_op(
                owner_pk(before.owner),
                _PREFIX + before.id,
                _step_changes(before, after),
                expect=expect,
                expect_absent=tuple(absent),
            )
        ]
        if event is not None:
            ops.append(self._outbox.op(event))
        try:
            if self._marks is not None:
                self._marks.transact(self._store, ops)
            else:
                self._store.transact(ops)
        except TransactionConflictError as exc:
            first = exc.reasons[0] if exc.reasons else ""
            if first in ("ConditionalCheckFailed", "TransactionConflict"):
                raise StaleRenewalError(f"renewal {before.id} changed since it was read ({first})") from exc
            raise


# -- eligibility, over A2A --------------------------------------------------------------------------


class A2ACaller(Protocol):
    """What this window needs of ``hmskit.a2a.A2AClient``."""

    def call(
        self,
        window: str,
        method: str,
        path: str,
        *,
        token: str | None,
        json_body: Any = None,
        correlation_id: str | None = None,
        expect: Collection[int] = (200,),
    ) -> A2AResponse: ...


ELIGIBILITY_WINDOW = "eligibility"
ELIGIBILITY_PATH = "/api/v1/eligibility/check"


def eligibility_request(application: Application) -> dict[str, Any]:
    """The check body: exactly the fields eligibility accepts (it refuses any other)."""
    body: dict[str, Any] = {
        "full_name": application.full_name,
        "date_of_birth": application.date_of_birth.isoformat(),
        "passport_issued_on": application.passport_issued_on.isoformat(),
        "passport_expires_on": application.passport_expires_on.isoformat(),
        "passport_damaged": application.passport_damaged,
        "passport_lost_or_stolen": application.passport_lost_or_stolen,
    }
    if application.name_on_passport is not None:
        body["name_on_passport"] = application.name_on_passport
    if application.name_change_document_ids is not None:
        body["name_change_document_ids"] = list(application.name_change_document_ids)
    return body


@dataclass
class A2AEligibility:
    """Eligibility asked synchronously, with the caller's own token (``hmskit.a2a``).

    200 is the decision; 403 (the token may not ask) and 422 (the application is invalid) become
    the domain's errors; everything else (unreachable 503, too slow 504, failing 502) is already a
    problem the A2A client raised, and propagates as the answer. ``client`` is a factory: the
    client (and its discovery) is built on the first check, never on a GET.
    """

    client: Callable[[], A2ACaller]

    def check(self, application: Application, *, token: str | None, correlation_id: str | None) -> Decision:
        resp = self.client().call(
            ELIGIBILITY_WINDOW,
            "POST",
            ELIGIBILITY_PATH,
            token=token,
            json_body=eligibility_request(application),
            correlation_id=correlation_id,
            expect=(200, 403, 422),
        )
        body = resp.body if isinstance(resp.body, Mapping) else {}
        told = body.get("detail") if isinstance(body.get("detail"), str) else None
        if resp.status == 403:
            raise EligibilityForbiddenError(
                "the eligibility check refused this caller's token"
                + (f" ({told})" if told else "")
                + ": submitting a renewal needs a token that may also check eligibility"
            )
        if resp.status == 422:
            raise EligibilityInvalidError(
                "eligibility found the application invalid" + (f": {told}" if told else ""),
                _field_errors(body.get("errors")),
            )
        return _decision(resp.body)


def _field_errors(raw: object) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        return []
    return [
        {"field": str(e.get("field", "body")), "reason": str(e.get("reason", "invalid"))}
        for e in raw
        if isinstance(e, Mapping)
    ]


def _decision(body: object) -> Decision:
    """Eligibility's 200 answer ``{allowed, reasons: [{code, message}], checked_on}``, checked."""
    if not isinstance(body, Mapping) or not isinstance(body.get("allowed"), bool):
        raise EligibilityAnswerError("eligibility answered 200 without a boolean 'allowed'")
    raw_reasons = body.get("reasons", [])
    if not isinstance(raw_reasons, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("code"), str) and isinstance(r.get("message"), str)
        for r in raw_reasons
    ):
        raise EligibilityAnswerError("eligibility answered 200 with 'reasons' that are not [{code, message}]")
    checked_on = body.get("checked_on")
    if not isinstance(checked_on, str):
        raise EligibilityAnswerError("eligibility answered 200 without 'checked_on'")
    return Decision(
        allowed=body["allowed"],
        reasons=tuple(Reason(r["code"], r["message"]) for r in raw_reasons),
        checked_on=checked_on,
    )
