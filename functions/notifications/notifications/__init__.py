"""The notifications window: emails citizens about their passport renewal and keeps each notification.

It consumes ``RenewalSubmitted``, ``PaymentCaptured`` and ``RenewalReadyForReview`` from its
subscription queues, sends one email per event through SES, stores every notification under the
citizen's ``sub`` and lists them at ``GET /api/v1/notifications``.
"""
