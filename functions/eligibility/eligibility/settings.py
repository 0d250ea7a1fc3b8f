"""The eligibility window's own setting, ``HMS_TIMEZONE``: the service time zone, an IANA name
(``UTC`` when unset or blank). "Today" for the rules is the civil date there at the clock's instant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo

from hmskit.settings import own_setting

TIMEZONE_VARIABLE = "HMS_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"


def parse_timezone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``zoneinfo``); ``ValueError`` saying what is wrong otherwise.

    ``UTC`` needs no time zone database; any other name is looked up in the system's, else in the
    ``tzdata`` package's. Surrounding whitespace is ignored; the name is case-sensitive."""
    key = name.strip()
    if key == DEFAULT_TIMEZONE:
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(key)
    except ZoneInfoNotFoundError:
        raise ValueError(
            f"{name!r} is not an IANA time zone name (e.g. 'Europe/London', 'America/New_York', "
            "'UTC'); if it is one, this runtime has no time zone database: package tzdata"
        ) from None
    except ValueError as exc:  # a path, an empty or otherwise malformed key
        raise ValueError(f"{name!r} is not an IANA time zone name: {exc}") from None


def timezone_from_env(environ: Mapping[str, str]) -> tzinfo:
    default: tzinfo = UTC
    return own_setting(environ, TIMEZONE_VARIABLE, parse_timezone, default)
