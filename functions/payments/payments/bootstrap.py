"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from hmskit.clock import Clock
from hmskit.deps import BaseDeps, TableParts
from hmskit.idempotency import Idempotency
from hmskit.outbox import Outbox
from hmskit.settings import WindowSettings, load_settings
from payments.adapters import DynamoPaymentRepository
from payments.domain import PaymentRepository
from payments.events import PaymentEvents


@dataclass(kw_only=True)
class Deps(BaseDeps):
    payments: PaymentRepository
    idempotency: Idempotency
    outbox: Outbox | None = None  # None: events are not recorded (unit tests that do not look at them)

    @property
    def events(self) -> PaymentEvents:
        return PaymentEvents(self.outbox)


def build(settings: WindowSettings, *, dynamodb: Any, clock: Clock | None = None) -> Deps:
    parts = TableParts(settings, dynamodb, clock=clock)
    return Deps(
        **parts.base(),
        payments=DynamoPaymentRepository(parts.store, parts.outbox, parts.idempotency),
        idempotency=parts.idempotency,
        outbox=parts.outbox,
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
