"""One correlation id per request: the client's valid X-Correlation-Id, else the request id; it rides
on the window's log lines and on the emails it causes (as an SES message tag, never in the letter)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import http_event

from hmskit.context import LocalContext
from hmskit.correlation import choose, correlation_id_of, valid
from notifications.adapters import SesMailer
from notifications.domain import OutgoingEmail


@pytest.mark.parametrize("value", ["abc", "5b2a0f3e-6f5c-4d8e-9a61-2b7f0c9e4d11", "A_b-9", "x" * 128])
def test_a_plain_id_of_up_to_128_characters_is_valid(value: str) -> None:
    assert valid(value)
    assert choose(value, "req-1") == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "a b", "a\nb", "ünï", "a.b", "<script>"])
def test_anything_else_falls_back_to_the_request_id(value: str | None) -> None:
    assert not valid(value)
    assert choose(value, "req-1") == "req-1"


def test_a_payload_2_event_gives_the_clients_header_else_the_request_id() -> None:
    event = http_event("GET", "/api/v1/payments", headers={"x-correlation-id": "client-trace-1"})
    assert correlation_id_of(event) == "client-trace-1"
    event["headers"]["x-correlation-id"] = "not valid!"
    assert correlation_id_of(event) == event["requestContext"]["requestId"]


def test_a_payload_1_event_keeps_the_clients_header_spelling() -> None:
    event = {"headers": {"X-Correlation-Id": "abc-123"}, "requestContext": {"requestId": "r-1"}}
    assert correlation_id_of(event) == "abc-123"


def test_an_event_batch_has_no_correlation_id_of_its_own() -> None:
    assert correlation_id_of({"Records": [{"eventSource": "aws:sqs"}]}) is None


def test_the_window_logs_carry_the_correlation_id() -> None:
    from hmskit.observability import entrypoint, logger

    seen: list[str | None] = []

    @entrypoint
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(logger().get_correlation_id())  # what every log line of the invocation carries
        return {"statusCode": 204}

    handler(http_event("GET", "/x", headers={"x-correlation-id": "trace-42"}), LocalContext())
    handler({"Records": []}, LocalContext())  # the next invocation is not the request's
    assert seen == ["trace-42", None]


class _Ses:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"MessageId": "m-1"}


def test_an_email_carries_its_causes_correlation_id_as_a_message_tag_only() -> None:
    ses = _Ses()
    mailer = SesMailer(lambda: ses, sender="no-reply@hms.local")
    mailer.send(
        OutgoingEmail(to="a@example.org", subject="S", text="T", html="<p>H</p>", correlation_id="c-1")
    )
    mailer.send(OutgoingEmail(to="a@example.org", subject="S", text="T", html="<p>H</p>"))
    assert ses.calls[0]["Tags"] == [{"Name": "correlation_id", "Value": "c-1"}]
    assert "c-1" not in json.dumps(ses.calls[0]["Message"])
    assert "Tags" not in ses.calls[1]
