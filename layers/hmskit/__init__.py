"""hmskit: the platform layer every HMS window shares.

One small module per capability, each with its own errors:

- settings      the window's settings, read once from the environment
- problems      RFC 9457 problem+json errors and the one place they are mapped
- auth          the principal, read from the verified authorizer context only
- store         the window's own DynamoDB table
- ratelimit     per-principal fixed-window rate limiting on that table
- idempotency   Idempotency-Key support for POST (Powertools idempotency)
- observability Powertools Logger and Metrics; Tracer only when enabled
- http          the Powertools resolver wired with all of the above
- ids, clock    time-ordered ids and an injectable clock
"""
