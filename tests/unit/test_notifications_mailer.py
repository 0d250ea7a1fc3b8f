"""The SES adapter: the request it makes, when it builds its client, and how it reads SES's errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from helpers import body_of, http_event

from hmskit.context import LocalContext
from hmskit.settings import WindowSettings
from notifications import bootstrap
from notifications.adapters import SesMailer
from notifications.domain import DeliveryRejectedError, MailerUnavailableError, OutgoingEmail
from notifications.handler import handle

EMAIL = OutgoingEmail(to="alice@example.org", subject="Subject", text="Plain text", html="<p>HTML</p>")


class FakeSes:
    """An SES client that records ``send_email`` calls and answers with ``error`` when set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MessageId": f"ses-{len(self.calls)}"}


class Factory:
    def __init__(self, client: FakeSes) -> None:
        self.client = client
        self.built = 0

    def __call__(self) -> FakeSes:
        self.built += 1
        return self.client


def ses_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Type": "Sender", "Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "SendEmail",
    )


def test_an_email_is_sent_from_the_window_sender_as_text_and_html() -> None:
    ses = FakeSes()
    mailer = SesMailer(Factory(ses), sender="no-reply@hms.example.gov")

    assert mailer.send(EMAIL) == "ses-1"

    assert ses.calls == [
        {
            "Source": "no-reply@hms.example.gov",
            "Destination": {"ToAddresses": ["alice@example.org"]},
            "Message": {
                "Subject": {"Data": "Subject", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "Plain text", "Charset": "UTF-8"},
                    "Html": {"Data": "<p>HTML</p>", "Charset": "UTF-8"},
                },
            },
        }
    ]


def test_the_client_is_built_on_the_first_email_and_then_reused() -> None:
    factory = Factory(FakeSes())
    mailer = SesMailer(factory, sender="hms@example.gov")
    assert factory.built == 0

    mailer.send(EMAIL)
    mailer.send(EMAIL)

    assert factory.built == 1


def test_an_http_request_never_builds_the_ses_client() -> None:
    factory = Factory(FakeSes())
    deps = bootstrap.build(
        WindowSettings(window="notifications", table_name="unused", email_sender="hms@example.gov"),
        dynamodb=object(),
        ses=factory,
    )

    result = handle(http_event("GET", "/api/v1/notifications/health", sub=None), LocalContext(), deps)

    assert body_of(result)["status"] == "ok" and factory.built == 0


@pytest.mark.parametrize(
    ("code", "status"),
    [("MessageRejected", 400), ("InvalidParameterValue", 400)],
)
def test_a_refused_message_is_a_permanent_rejection_with_the_reason(code: str, status: int) -> None:
    mailer = SesMailer(
        Factory(FakeSes(ses_error(code, status, "Address blacklisted."))), sender="hms@example.gov"
    )

    with pytest.raises(DeliveryRejectedError, match=f"{code}: Address blacklisted."):
        mailer.send(EMAIL)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        (
            "AccessDenied",
            403,
        ),  # a permissions mistake is fixed, then the DLQ redriven: not the citizen's fault
        ("AccountSendingPausedException", 400),
    ],
)
def test_throttling_5xx_and_configuration_errors_are_transient(code: str, status: int) -> None:
    mailer = SesMailer(Factory(FakeSes(ses_error(code, status))), sender="hms@example.gov")

    with pytest.raises(MailerUnavailableError, match=code):
        mailer.send(EMAIL)


def test_an_unreachable_ses_is_transient() -> None:
    error = EndpointConnectionError(endpoint_url="https://email.eu-west-2.amazonaws.com")
    mailer = SesMailer(Factory(FakeSes(error)), sender="hms@example.gov")

    with pytest.raises(MailerUnavailableError, match="unreachable"):
        mailer.send(EMAIL)


def test_without_a_configured_sender_nothing_is_sent_and_the_message_will_be_retried() -> None:
    factory = Factory(FakeSes())
    mailer = SesMailer(factory, sender=None)

    with pytest.raises(MailerUnavailableError, match="HMS_EMAIL_SENDER"):
        mailer.send(EMAIL)
    assert factory.built == 0
