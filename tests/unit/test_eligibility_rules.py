"""The eligibility rules: plain functions over an application and today's date (no clock, no HTTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.rules import (
    RULES,
    Application,
    Decision,
    InconsistentApplicationError,
    ReasonCode,
    age_on,
    anniversary,
    evaluate,
    inconsistencies,
    not_yet_renewable,
    renewable_from,
    same_name,
)

TODAY = date(2026, 6, 15)
DOC = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

# An application every rule allows on TODAY.
GOOD = Application(
    full_name="Jane Doe",
    date_of_birth=date(1990, 4, 2),
    passport_issued_on=date(2017, 9, 1),
    passport_expires_on=date(2027, 3, 1),
)


def codes(a: Application, today: date = TODAY) -> list[ReasonCode]:
    return [r.code for r in evaluate(a, today).reasons]


# -- the whole decision -------------------------------------------------------------------------------
def test_an_application_no_rule_refuses_is_allowed_with_no_reasons() -> None:
    decision = evaluate(GOOD, TODAY)

    assert decision.allowed
    assert decision.public() == {"allowed": True, "reasons": [], "checked_on": "2026-06-15"}


def test_the_decision_is_dated_by_the_given_today_never_the_system_clock() -> None:
    far = date(2100, 1, 1)
    a = replace(GOOD, passport_issued_on=date(2090, 1, 1), passport_expires_on=date(2100, 6, 1))

    assert evaluate(a, far).checked_on == far


def test_every_failing_rule_is_reported_in_a_stable_order() -> None:
    a = Application(
        full_name="Tom Smith",
        date_of_birth=date(2012, 1, 10),
        passport_issued_on=date(2020, 1, 1),
        passport_expires_on=date(2030, 1, 1),
        name_on_passport="Tom Jones",
        passport_damaged=True,
        passport_lost_or_stolen=True,
    )

    assert codes(a) == [
        ReasonCode.UNDER_16,
        ReasonCode.ISSUED_UNDER_16,
        ReasonCode.NOT_YET_RENEWABLE,
        ReasonCode.NAME_CHANGE_UNDOCUMENTED,
        ReasonCode.PASSPORT_DAMAGED,
        ReasonCode.PASSPORT_LOST_OR_STOLEN,
    ]


def test_an_old_child_passport_is_refused_for_both_reasons() -> None:
    a = replace(GOOD, passport_issued_on=date(2005, 1, 1), passport_expires_on=date(2010, 1, 1))

    assert codes(a) == [ReasonCode.ISSUED_UNDER_16, ReasonCode.PASSPORT_TOO_OLD]


def test_the_rules_run_in_the_order_of_the_reason_codes() -> None:
    assert [rule.__name__.upper() for rule in RULES] == [code.value for code in ReasonCode]


def test_a_refusal_carries_its_code_and_a_message_for_the_citizen() -> None:
    decision = evaluate(replace(GOOD, passport_damaged=True), TODAY)

    assert decision.public() == {
        "allowed": False,
        "reasons": [
            {
                "code": "PASSPORT_DAMAGED",
                "message": "A damaged passport cannot be renewed online: apply for a new passport.",
            }
        ],
        "checked_on": "2026-06-15",
    }
    assert isinstance(decision, Decision)


# -- UNDER_16 -----------------------------------------------------------------------------------------
def test_on_the_16th_birthday_the_applicant_is_no_longer_under_16() -> None:
    a = replace(GOOD, date_of_birth=date(2010, 6, 15), passport_issued_on=date(2026, 6, 1))

    assert ReasonCode.UNDER_16 not in codes(a, date(2026, 6, 15))
    assert ReasonCode.UNDER_16 in codes(a, date(2026, 6, 14))


def test_the_day_before_the_16th_birthday_the_applicant_is_under_16() -> None:
    a = replace(GOOD, date_of_birth=date(2010, 6, 16), passport_issued_on=date(2026, 1, 1))

    reasons = evaluate(a, TODAY).reasons

    assert reasons[0].code == ReasonCode.UNDER_16
    assert "turns 16 on 2026-06-16" in reasons[0].message


def test_a_29_february_birthday_counts_in_a_leap_year_on_the_day() -> None:
    dob = date(2012, 2, 29)

    assert age_on(dob, date(2028, 2, 28)) == 15
    assert age_on(dob, date(2028, 2, 29)) == 16


def test_a_29_february_birthday_falls_on_1_march_in_a_common_year() -> None:
    dob = date(2008, 2, 29)

    assert age_on(dob, date(2023, 2, 28)) == 14
    assert age_on(dob, date(2023, 3, 1)) == 15
    assert anniversary(dob, 15) == date(2023, 3, 1)


def test_a_16th_birthday_on_29_february_of_a_common_century_year_is_1_march() -> None:
    dob = date(2084, 2, 29)  # 2100 is not a leap year
    a = replace(
        GOOD, date_of_birth=dob, passport_issued_on=date(2100, 3, 1), passport_expires_on=date(2101, 1, 1)
    )

    assert ReasonCode.UNDER_16 in codes(replace(a, passport_issued_on=date(2100, 2, 1)), date(2100, 2, 28))
    assert ReasonCode.UNDER_16 not in codes(a, date(2100, 3, 1))


# -- ISSUED_UNDER_16 ----------------------------------------------------------------------------------
def test_a_passport_issued_the_day_before_the_16th_birthday_is_a_child_passport() -> None:
    a = replace(GOOD, date_of_birth=date(2000, 3, 10), passport_issued_on=date(2016, 3, 9))

    assert ReasonCode.ISSUED_UNDER_16 in codes(a)


def test_a_passport_issued_on_the_16th_birthday_is_an_adult_passport() -> None:
    a = replace(GOOD, date_of_birth=date(2000, 3, 10), passport_issued_on=date(2016, 3, 10))

    assert ReasonCode.ISSUED_UNDER_16 not in codes(a)


def test_a_child_passport_ends_on_1_march_for_a_29_february_birthday_in_a_common_year() -> None:
    a = replace(
        GOOD,
        date_of_birth=date(2084, 2, 29),
        passport_issued_on=date(2100, 2, 28),
        passport_expires_on=date(2101, 6, 1),
    )
    later = replace(a, passport_issued_on=date(2100, 3, 1))

    assert ReasonCode.ISSUED_UNDER_16 in codes(a, date(2101, 1, 1))
    assert ReasonCode.ISSUED_UNDER_16 not in codes(later, date(2101, 1, 1))


# -- PASSPORT_TOO_OLD ---------------------------------------------------------------------------------
def test_a_passport_issued_exactly_15_years_ago_is_not_too_old() -> None:
    a = replace(GOOD, passport_issued_on=date(2011, 6, 15), passport_expires_on=date(2021, 6, 15))

    assert ReasonCode.PASSPORT_TOO_OLD not in codes(a)


def test_a_passport_issued_15_years_and_a_day_ago_is_too_old() -> None:
    a = replace(GOOD, passport_issued_on=date(2011, 6, 14), passport_expires_on=date(2021, 6, 14))

    assert ReasonCode.PASSPORT_TOO_OLD in codes(a)


def test_a_passport_issued_on_29_february_turns_15_on_1_march_of_a_common_year() -> None:
    a = replace(GOOD, passport_issued_on=date(2012, 2, 29), passport_expires_on=date(2022, 2, 28))

    assert ReasonCode.PASSPORT_TOO_OLD not in codes(a, date(2027, 3, 1))
    assert ReasonCode.PASSPORT_TOO_OLD in codes(a, date(2027, 3, 2))


# -- NOT_YET_RENEWABLE --------------------------------------------------------------------------------
def test_a_passport_expiring_exactly_12_months_from_today_is_renewable() -> None:
    a = replace(GOOD, passport_expires_on=date(2027, 6, 15))

    assert ReasonCode.NOT_YET_RENEWABLE not in codes(a)


def test_a_passport_expiring_12_months_and_a_day_from_today_is_not_yet_renewable() -> None:
    decision = evaluate(replace(GOOD, passport_expires_on=date(2027, 6, 16)), TODAY)

    assert [r.code for r in decision.reasons] == [ReasonCode.NOT_YET_RENEWABLE]
    assert "renewed from 2026-06-16" in decision.reasons[0].message


def test_an_expired_passport_is_still_renewable() -> None:
    a = replace(GOOD, passport_expires_on=date(2026, 1, 1))

    assert codes(a) == []


def test_on_29_february_the_12_month_window_reaches_1_march_of_the_next_year() -> None:
    today = date(2028, 2, 29)
    a = replace(GOOD, passport_expires_on=date(2029, 3, 1))

    assert ReasonCode.NOT_YET_RENEWABLE not in codes(a, today)
    assert ReasonCode.NOT_YET_RENEWABLE in codes(replace(a, passport_expires_on=date(2029, 3, 2)), today)
    assert renewable_from(date(2029, 3, 1)) == date(2028, 2, 29)


@given(
    expires=st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)),
    offset=st.integers(min_value=-800, max_value=800),
)
def test_renewable_from_is_exactly_the_first_day_the_rule_allows(expires: date, offset: int) -> None:
    today = expires + timedelta(days=offset)
    a = replace(GOOD, passport_expires_on=expires)

    assert (not_yet_renewable(a, today) is None) == (today >= renewable_from(expires))


@given(
    dob=st.dates(min_value=date(1901, 1, 1), max_value=date(2150, 12, 31)),
    years=st.integers(min_value=0, max_value=40),
)
def test_the_age_changes_exactly_on_each_anniversary(dob: date, years: int) -> None:
    birthday = anniversary(dob, years)

    assert age_on(dob, birthday) == years
    if years:
        assert age_on(dob, birthday - timedelta(days=1)) == years - 1


# -- NAME_CHANGE_UNDOCUMENTED -------------------------------------------------------------------------
def test_a_different_name_on_the_passport_without_documents_is_refused() -> None:
    a = replace(GOOD, name_on_passport="Jane Smith")

    assert codes(a) == [ReasonCode.NAME_CHANGE_UNDOCUMENTED]


def test_a_different_name_with_a_name_change_document_is_allowed() -> None:
    a = replace(GOOD, name_on_passport="Jane Smith", name_change_document_ids=(DOC,))

    assert codes(a) == []


def test_no_name_on_passport_means_no_name_change() -> None:
    assert codes(replace(GOOD, name_on_passport=None)) == []


@pytest.mark.parametrize(
    "on_passport",
    ["Jane Doe", "jane doe", "  JANE   DOE ", "Jane\tDoe", "\uff2a\uff41\uff4e\uff45 \uff24\uff4f\uff45"],
    ids=["same", "case", "spaces", "tab", "fullwidth"],
)
def test_names_are_compared_ignoring_case_and_whitespace(on_passport: str) -> None:
    assert codes(replace(GOOD, name_on_passport=on_passport)) == []


def test_names_are_compared_in_one_unicode_form() -> None:
    assert same_name("Jos\u00e9 Garc\u00eda", "Jose\u0301 Garci\u0301a")
    assert same_name("Stra\u00dfe", "STRASSE")


def test_whitespace_inside_a_name_still_separates_words() -> None:
    assert not same_name("Anne Marie", "AnneMarie")


# -- PASSPORT_DAMAGED, PASSPORT_LOST_OR_STOLEN -----------------------------------------------------
def test_a_damaged_passport_is_refused() -> None:
    assert codes(replace(GOOD, passport_damaged=True)) == [ReasonCode.PASSPORT_DAMAGED]


def test_a_lost_or_stolen_passport_is_refused() -> None:
    assert codes(replace(GOOD, passport_lost_or_stolen=True)) == [ReasonCode.PASSPORT_LOST_OR_STOLEN]


# -- dates that contradict each other -----------------------------------------------------------------
def test_a_consistent_application_has_no_inconsistencies() -> None:
    assert inconsistencies(GOOD, TODAY) == ()


def test_every_contradiction_is_named_by_its_field() -> None:
    a = Application(
        full_name="Jane Doe",
        date_of_birth=date(2030, 1, 1),
        passport_issued_on=date(2029, 1, 1),
        passport_expires_on=date(2028, 1, 1),
    )

    found = [(e.field, e.reason) for e in inconsistencies(a, TODAY)]

    assert found == [
        ("date_of_birth", "must not be in the future"),
        ("passport_issued_on", "must not be before date_of_birth"),
        ("passport_issued_on", "must not be in the future"),
        ("passport_expires_on", "must be after passport_issued_on"),
    ]


def test_a_passport_expiring_the_day_it_was_issued_is_inconsistent() -> None:
    a = replace(GOOD, passport_expires_on=GOOD.passport_issued_on)

    assert [e.field for e in inconsistencies(a, TODAY)] == ["passport_expires_on"]


def test_a_passport_issued_on_the_day_of_birth_or_today_is_consistent() -> None:
    assert inconsistencies(replace(GOOD, passport_issued_on=GOOD.date_of_birth), TODAY) == ()
    assert (
        inconsistencies(replace(GOOD, passport_issued_on=TODAY, passport_expires_on=date(2036, 6, 15)), TODAY)
        == ()
    )


def test_born_today_is_not_born_in_the_future() -> None:
    a = replace(GOOD, date_of_birth=TODAY, passport_issued_on=TODAY, passport_expires_on=date(2031, 6, 15))

    assert inconsistencies(a, TODAY) == ()


def test_an_inconsistent_application_is_not_judged() -> None:
    a = replace(GOOD, date_of_birth=date(2027, 1, 1))

    with pytest.raises(InconsistentApplicationError) as caught:
        evaluate(a, TODAY)

    assert [e.field for e in caught.value.errors] == ["date_of_birth", "passport_issued_on"]
