"""Passport renewal eligibility: plain functions over an ``Application`` and today's date.

"Today" is a civil date, given by the caller (the window: the date in the service time zone,
``HMS_TIMEZONE``, at the clock's instant); the rules never ask a clock or a time zone.

Every failing rule is reported, in this order (the order of ``RULES``); an application is allowed
when none fails.

=========================  ==============================================================  =================================
code                       refused when                                                    what the citizen must do instead
=========================  ==============================================================  =================================
UNDER_16                   the applicant is under 16 today                                 a parent applies for a child passport
ISSUED_UNDER_16            the passport was issued before the applicant's 16th birthday    apply in person (it is a child passport)
PASSPORT_TOO_OLD           the passport was issued more than 15 years ago                  apply for a new passport
NOT_YET_RENEWABLE          the passport expires more than 12 months from today             wait until 12 months before expiry
NAME_CHANGE_UNDOCUMENTED   the name on the passport differs from the applicant's name      upload name change documents
                           and no name change document is given
PASSPORT_DAMAGED           the passport is damaged                                         apply for a new passport
PASSPORT_LOST_OR_STOLEN    the passport is lost or stolen                                  report it, apply for a new passport
=========================  ==============================================================  =================================

Boundaries, pinned down (each has a test):

- Ages and periods count anniversaries: ``anniversary(d, n)`` is the same day and month ``n`` years
  later, and **29 February falls on 1 March in a common year** (the day has not come until 28
  February has passed; the UK reading for birthdays). Someone born on 29 February 2012 turns 16 on
  29 February 2028 (a leap year); someone born on 29 February 2008 turned 15 on 1 March 2023.
- UNDER_16: under 16 until the day of the 16th birthday; on that day the applicant is 16.
- ISSUED_UNDER_16: issued on the 16th birthday is an adult passport.
- PASSPORT_TOO_OLD: issued exactly 15 years ago today is not "more than" 15 years: renewable.
- NOT_YET_RENEWABLE: expiring exactly 12 months from today (``anniversary(today, 1)``) is renewable.
- NAME_CHANGE_UNDOCUMENTED: names are compared after Unicode NFKC normalisation, case folding and
  collapsing whitespace (leading, trailing and repeated whitespace is ignored; "Anne Marie" and
  "AnneMarie" still differ).

Dates that contradict each other are not a refusal but an invalid application: ``inconsistencies``
lists them (the HTTP layer answers 422) and ``evaluate`` refuses to judge them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

ADULT_AGE = 16
MAX_PASSPORT_AGE_YEARS = 15
RENEWAL_WINDOW_YEARS = 1  # 12 months


class ReasonCode(StrEnum):
    UNDER_16 = "UNDER_16"
    ISSUED_UNDER_16 = "ISSUED_UNDER_16"
    PASSPORT_TOO_OLD = "PASSPORT_TOO_OLD"
    NOT_YET_RENEWABLE = "NOT_YET_RENEWABLE"
    NAME_CHANGE_UNDOCUMENTED = "NAME_CHANGE_UNDOCUMENTED"
    PASSPORT_DAMAGED = "PASSPORT_DAMAGED"
    PASSPORT_LOST_OR_STOLEN = "PASSPORT_LOST_OR_STOLEN"


@dataclass(frozen=True)
class Application:
    full_name: str
    date_of_birth: date
    passport_issued_on: date
    passport_expires_on: date
    name_on_passport: str | None = None
    name_change_document_ids: tuple[str, ...] = ()
    passport_damaged: bool = False
    passport_lost_or_stolen: bool = False


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str

    def public(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class Decision:
    reasons: tuple[Reason, ...]
    checked_on: date

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def public(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "reasons": [r.public() for r in self.reasons],
            "checked_on": self.checked_on.isoformat(),
        }


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class InconsistentApplicationError(Exception):
    """The application's dates contradict each other or today: it cannot be judged."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


# -- date arithmetic --------------------------------------------------------------------------------


def anniversary(day: date, years: int) -> date:
    """``day`` moved ``years`` years on; 29 February lands on 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, and the target year is not a leap year
        return date(day.year + years, 3, 1)


def age_on(date_of_birth: date, today: date) -> int:
    """Whole years completed on ``today`` (the birthday itself counts)."""
    years = today.year - date_of_birth.year
    return years if today >= anniversary(date_of_birth, years) else years - 1


def same_name(a: str, b: str) -> bool:
    """Equal ignoring case, Unicode form and whitespace runs."""
    return _normalised(a) == _normalised(b)


def _normalised(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# -- the rules: each returns a Reason when it refuses, else None ------------------------------------

Rule = Callable[[Application, date], Reason | None]


def under_16(a: Application, today: date) -> Reason | None:
    if age_on(a.date_of_birth, today) >= ADULT_AGE:
        return None
    turns = anniversary(a.date_of_birth, ADULT_AGE)
    return Reason(
        ReasonCode.UNDER_16,
        f"The applicant is under {ADULT_AGE} (turns {ADULT_AGE} on {turns.isoformat()}): "
        "a parent or guardian must apply for a child passport.",
    )


def issued_under_16(a: Application, today: date) -> Reason | None:
    if a.passport_issued_on >= anniversary(a.date_of_birth, ADULT_AGE):
        return None
    return Reason(
        ReasonCode.ISSUED_UNDER_16,
        f"The passport was issued on {a.passport_issued_on.isoformat()}, before the applicant's "
        f"{ADULT_AGE}th birthday: replacing a child passport must be applied for in person.",
    )


def passport_too_old(a: Application, today: date) -> Reason | None:
    if today <= anniversary(a.passport_issued_on, MAX_PASSPORT_AGE_YEARS):
        return None
    return Reason(
        ReasonCode.PASSPORT_TOO_OLD,
        f"The passport was issued on {a.passport_issued_on.isoformat()}, more than "
        f"{MAX_PASSPORT_AGE_YEARS} years ago: apply for a new passport instead.",
    )


def not_yet_renewable(a: Application, today: date) -> Reason | None:
    if a.passport_expires_on <= anniversary(today, RENEWAL_WINDOW_YEARS):
        return None
    return Reason(
        ReasonCode.NOT_YET_RENEWABLE,
        f"The passport expires on {a.passport_expires_on.isoformat()}, more than 12 months from "
        f"today: it can be renewed from {renewable_from(a.passport_expires_on).isoformat()}.",
    )


def renewable_from(expires_on: date) -> date:
    """The first day on which a passport expiring on ``expires_on`` is within 12 months of expiry."""
    first = anniversary(expires_on, -RENEWAL_WINDOW_YEARS)
    day_before = first - timedelta(days=1)
    # 29 Feb and 1 Mar of a leap year both land on 1 Mar of the next (common) year
    return day_before if anniversary(day_before, RENEWAL_WINDOW_YEARS) >= expires_on else first


def name_change_undocumented(a: Application, today: date) -> Reason | None:
    if a.name_on_passport is None or same_name(a.name_on_passport, a.full_name):
        return None
    if a.name_change_document_ids:
        return None
    return Reason(
        ReasonCode.NAME_CHANGE_UNDOCUMENTED,
        "The name on the passport differs from the applicant's name and no name change document "
        "(marriage or civil partnership certificate, deed poll) was given.",
    )


def passport_damaged(a: Application, today: date) -> Reason | None:
    if not a.passport_damaged:
        return None
    return Reason(
        ReasonCode.PASSPORT_DAMAGED,
        "A damaged passport cannot be renewed online: apply for a new passport.",
    )


def passport_lost_or_stolen(a: Application, today: date) -> Reason | None:
    if not a.passport_lost_or_stolen:
        return None
    return Reason(
        ReasonCode.PASSPORT_LOST_OR_STOLEN,
        "A lost or stolen passport cannot be renewed: report it and apply for a new passport.",
    )


RULES: tuple[Rule, ...] = (
    under_16,
    issued_under_16,
    passport_too_old,
    not_yet_renewable,
    name_change_undocumented,
    passport_damaged,
    passport_lost_or_stolen,
)


# -- the use case -----------------------------------------------------------------------------------


def inconsistencies(a: Application, today: date) -> tuple[FieldError, ...]:
    """Every way the application's dates contradict each other or today (empty when none)."""
    errors = []
    if a.date_of_birth > today:
        errors.append(FieldError("date_of_birth", "must not be in the future"))
    if a.passport_issued_on < a.date_of_birth:
        errors.append(FieldError("passport_issued_on", "must not be before date_of_birth"))
    if a.passport_issued_on > today:
        errors.append(FieldError("passport_issued_on", "must not be in the future"))
    if a.passport_expires_on <= a.passport_issued_on:
        errors.append(FieldError("passport_expires_on", "must be after passport_issued_on"))
    return tuple(errors)


def evaluate(a: Application, today: date) -> Decision:
    """Judge an application on ``today``: every failing rule, in ``RULES`` order.

    ``InconsistentApplicationError`` when its dates contradict each other or today.
    """
    invalid = inconsistencies(a, today)
    if invalid:
        raise InconsistentApplicationError(invalid)
    reasons = tuple(reason for rule in RULES if (reason := rule(a, today)) is not None)
    return Decision(reasons=reasons, checked_on=today)
