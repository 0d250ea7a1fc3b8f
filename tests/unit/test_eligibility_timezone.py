"""Eligibility's "today" is the civil date in the service time zone (``HMS_TIMEZONE``, IANA, default UTC).

The clock stays injected: each test fixes an instant (a ``FakeClock``) a little before or after
midnight, and checks the date the rules are applied on, there. The defect this pins down: with the
UTC date, an applicant at 00:30 British Summer Time on their 16th birthday (23:30 UTC the day before)
was refused as under 16.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import http_event
from support.kit import FakeClock

from eligibility import bootstrap
from eligibility.app import handle
from eligibility.settings import parse_timezone, timezone_from_env
from hms.apigw import build_v1_event
from hmskit.context import LocalContext
from hmskit.settings import SettingsError, WindowSettings, load_settings

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

CHECK = "/api/v1/eligibility/check"
LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


def at(text: str) -> float:
    """An instant, written in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def deps_at(instant: float, timezone: tzinfo = UTC) -> bootstrap.Deps:
    settings = WindowSettings(window="eligibility", table_name="unused", max_body_bytes=2048)
    return bootstrap.build(settings, clock=FakeClock(instant), timezone=timezone)


def check(deps: bootstrap.Deps, body: dict[str, Any]) -> dict[str, Any]:
    event = build_v1_event(http_event("POST", CHECK, body=body, scopes=["eligibility.check"]), resource=CHECK)
    result = handle(event, LocalContext(), deps)
    assert result["statusCode"] == 200, result["body"]
    answer: dict[str, Any] = json.loads(result["body"])
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


# -- today, around midnight -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "today"),
    [
        ("2026-06-14T23:30", UTC, date(2026, 6, 14)),
        ("2026-06-14T23:30", LONDON, date(2026, 6, 15)),  # 00:30 BST (UTC+1)
        ("2026-06-14T22:59", LONDON, date(2026, 6, 14)),  # 23:59 BST
        ("2026-06-14T23:30", NEW_YORK, date(2026, 6, 14)),  # 19:30 EDT
        ("2026-06-15T03:30", UTC, date(2026, 6, 15)),
        ("2026-06-15T03:30", NEW_YORK, date(2026, 6, 14)),  # 23:30 EDT (UTC-4)
        ("2026-06-15T04:00", NEW_YORK, date(2026, 6, 15)),  # 00:00 EDT
        ("2026-01-15T00:30", LONDON, date(2026, 1, 15)),  # GMT in winter: the UTC date
        ("2026-01-14T23:59", LONDON, date(2026, 1, 14)),
        ("2026-01-15T04:59", NEW_YORK, date(2026, 1, 14)),  # 23:59 EST (UTC-5)
        ("2026-01-15T05:00", NEW_YORK, date(2026, 1, 15)),
    ],
)
def test_today_is_the_civil_date_in_the_service_time_zone(instant: str, zone: tzinfo, today: date) -> None:
    assert deps_at(at(instant), zone).today() == today


def test_without_a_time_zone_today_is_the_utc_date() -> None:
    deps = bootstrap.build(
        WindowSettings(window="eligibility", table_name="unused"), clock=FakeClock(at("2026-06-14T23:30"))
    )

    assert deps.timezone is UTC
    assert deps.today() == date(2026, 6, 14)


def test_today_follows_the_injected_clock_across_midnight() -> None:
    clock = FakeClock(at("2026-06-14T22:59"))
    deps = bootstrap.build(
        WindowSettings(window="eligibility", table_name="unused"), clock=clock, timezone=LONDON
    )

    assert deps.today() == date(2026, 6, 14)
    clock.advance(60)
    assert deps.today() == date(2026, 6, 15)


# -- the rules on the service's today ---------------------------------------------------------------

SIXTEEN_TODAY = {  # 16 on 15 June 2026 (the passport, a child's, is refused in any zone)
    "full_name": "Sam Young",
    "date_of_birth": "2010-06-15",
    "passport_issued_on": "2021-03-01",
    "passport_expires_on": "2026-09-01",
}
EXPIRES_IN_12_MONTHS = {  # renewable from 15 June 2026
    "full_name": "Jane Doe",
    "date_of_birth": "1990-04-02",
    "passport_issued_on": "2017-06-20",
    "passport_expires_on": "2027-06-15",
}


def test_at_0030_london_time_on_the_16th_birthday_the_applicant_is_16() -> None:
    half_past_midnight_bst = at("2026-06-14T23:30")

    in_london = check(deps_at(half_past_midnight_bst, LONDON), SIXTEEN_TODAY)
    in_utc = check(deps_at(half_past_midnight_bst, UTC), SIXTEEN_TODAY)

    assert in_london["checked_on"] == "2026-06-15"
    assert "UNDER_16" not in codes(in_london)
    assert in_utc["checked_on"] == "2026-06-14"
    assert "UNDER_16" in codes(in_utc)  # what a UTC service answers: still the 14th there


def test_at_2330_new_york_time_the_day_before_the_16th_birthday_the_applicant_is_15() -> None:
    half_past_eleven_edt = at("2026-06-15T03:30")  # already the birthday in UTC

    in_new_york = check(deps_at(half_past_eleven_edt, NEW_YORK), SIXTEEN_TODAY)
    half_an_hour_later = check(deps_at(at("2026-06-15T04:00"), NEW_YORK), SIXTEEN_TODAY)

    assert in_new_york["checked_on"] == "2026-06-14"
    assert "UNDER_16" in codes(in_new_york)
    assert half_an_hour_later["checked_on"] == "2026-06-15"
    assert "UNDER_16" not in codes(half_an_hour_later)


def test_the_renewal_window_opens_at_local_midnight() -> None:
    just_after_midnight_bst = at("2026-06-14T23:05")

    in_london = check(deps_at(just_after_midnight_bst, LONDON), EXPIRES_IN_12_MONTHS)
    in_new_york = check(deps_at(just_after_midnight_bst, NEW_YORK), EXPIRES_IN_12_MONTHS)

    assert (in_london["allowed"], in_london["checked_on"]) == (True, "2026-06-15")
    assert (in_new_york["allowed"], codes(in_new_york)) == (False, ["NOT_YET_RENEWABLE"])


def test_a_date_in_the_future_is_judged_against_the_service_date() -> None:
    """Issued "today" in London, 00:10 BST, while UTC is still on the day before: not in the future."""
    body = {**EXPIRES_IN_12_MONTHS, "passport_issued_on": "2026-06-15", "passport_expires_on": "2036-06-15"}
    event = build_v1_event(http_event("POST", CHECK, body=body, scopes=["eligibility.check"]), resource=CHECK)

    in_utc = handle(event, LocalContext(), deps_at(at("2026-06-14T23:10"), UTC))
    in_london = handle(event, LocalContext(), deps_at(at("2026-06-14T23:10"), LONDON))

    assert in_utc["statusCode"] == 422
    assert in_london["statusCode"] == 200, in_london["body"]


# -- the setting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Europe/London", "America/New_York", "Asia/Kolkata", "Etc/UTC", " Europe/London "]
)
def test_an_iana_name_is_a_time_zone(name: str) -> None:
    zone = parse_timezone(name)

    assert isinstance(zone, ZoneInfo)
    assert zone.key == name.strip()


def test_utc_needs_no_time_zone_database() -> None:
    assert parse_timezone("UTC") is UTC


def test_unset_or_blank_is_utc() -> None:
    assert timezone_from_env({}) is UTC
    assert timezone_from_env({"HMS_TIMEZONE": ""}) is UTC
    assert timezone_from_env({"HMS_TIMEZONE": "  "}) is UTC


def test_the_time_zone_is_read_from_hms_timezone() -> None:
    zone = timezone_from_env({"HMS_TIMEZONE": "America/New_York"})

    assert isinstance(zone, ZoneInfo) and zone.key == "America/New_York"


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "London",
        "Europe/Londres",
        "GMT+25",
        "/etc/localtime",
        "../../etc/passwd",
        "Europe/",
    ],
)
def test_an_unknown_or_malformed_name_is_a_settings_error_naming_the_variable(name: str) -> None:
    with pytest.raises(SettingsError, match="HMS_TIMEZONE") as raised:
        timezone_from_env({"HMS_TIMEZONE": name})

    message = str(raised.value)
    assert repr(name) in message
    assert "is not an IANA time zone name" in message
    assert "invalid window settings from the environment" in message


# -- the composition root: the environment, read once -----------------------------------------------


@pytest.fixture
def fresh_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``bootstrap.deps()`` built from this test's environment, and forgotten afterwards."""
    monkeypatch.setenv("HMS_WINDOW", "eligibility")
    monkeypatch.setenv("HMS_TABLE_NAME", "eligibility-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bootstrap.deps.cache_clear()
    load_settings.cache_clear()
    yield
    bootstrap.deps.cache_clear()
    load_settings.cache_clear()


def test_the_composition_root_reads_the_time_zone(fresh_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMS_TIMEZONE", "Europe/London")

    zone = bootstrap.deps().timezone

    assert isinstance(zone, ZoneInfo) and zone.key == "Europe/London"


def test_the_composition_root_defaults_to_utc(fresh_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMS_TIMEZONE", raising=False)

    assert bootstrap.deps().timezone is UTC


def test_a_bad_time_zone_stops_the_composition_root(
    fresh_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMS_TIMEZONE", "Europe/Atlantis")

    with pytest.raises(SettingsError, match="HMS_TIMEZONE: 'Europe/Atlantis' is not an IANA time zone name"):
        bootstrap.deps()
