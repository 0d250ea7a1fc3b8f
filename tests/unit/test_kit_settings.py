"""Settings are read once from the environment into a typed model; bad values fail loudly."""

from __future__ import annotations

import pytest

from hmskit.settings import RateLimit, SettingsError, WindowSettings

BASE = {"HMS_WINDOW": "payments", "HMS_TABLE_NAME": "hms-payments"}


def test_settings_come_from_the_environment_with_defaults() -> None:
    settings = WindowSettings.from_env({**BASE, "HMS_RATE_LIMIT": "30/60"})

    assert settings.window == "payments"
    assert settings.table_name == "hms-payments"
    assert settings.rate_limit == RateLimit(limit=30, window=60)
    assert settings.bucket_name is None
    assert settings.max_body_bytes == 64 * 1024
    assert settings.idempotency_ttl_seconds == 24 * 3600
    assert settings.tracing is False


def test_optional_variables_override_the_defaults() -> None:
    settings = WindowSettings.from_env(
        {
            **BASE,
            "HMS_BUCKET_NAME": "b",
            "HMS_MAX_BODY_BYTES": "1024",
            "HMS_IDEMPOTENCY_TTL": "60",
            "HMS_TRACING": "TRUE",
        }
    )

    assert (settings.bucket_name, settings.max_body_bytes, settings.idempotency_ttl_seconds) == (
        "b",
        1024,
        60,
    )
    assert settings.tracing is True


def test_an_empty_rate_limit_means_no_rate_limit() -> None:
    assert WindowSettings.from_env({**BASE, "HMS_RATE_LIMIT": ""}).rate_limit is None
    assert WindowSettings.from_env(BASE).rate_limit is None


@pytest.mark.parametrize("text", ["abc", "30", "30/x", "30/0", "0/60", "-1/60", "/60"])
def test_a_bad_rate_limit_is_a_settings_error(text: str) -> None:
    with pytest.raises(SettingsError, match="rate_limit"):
        WindowSettings.from_env({**BASE, "HMS_RATE_LIMIT": text})


@pytest.mark.parametrize("missing", ["HMS_WINDOW", "HMS_TABLE_NAME"])
def test_a_missing_required_variable_is_a_settings_error(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}

    with pytest.raises(SettingsError):
        WindowSettings.from_env(env)


def test_a_non_numeric_body_limit_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="max_body_bytes"):
        WindowSettings.from_env({**BASE, "HMS_MAX_BODY_BYTES": "lots"})


def test_a_rate_limit_reads_back_as_its_manifest_text() -> None:
    assert str(RateLimit.parse("30/60")) == "30/60"
