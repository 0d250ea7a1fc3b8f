"""hmskit: the platform layer every HMS window shares.

One small module per capability, each with its own errors:

- settings      the window's settings, read once from the environment
- problems      RFC 9457 problem+json errors
- auth          the principal, read from the verified authorizer context only
- store         the window's own DynamoDB table
- owned         items a principal owns in it: created once, read and listed by their owner
- ratelimit     per-principal fixed-window rate limiting on that table
- idempotency   Idempotency-Key for POST: the record written in the effect's own transaction
- observability Powertools Logger and Metrics; Tracer only when enabled
- jsonbody      request bodies as JSON, nesting bounded (400 past it) for every window
- text          pydantic string types that refuse control characters
- webcore       the HTTP core: routes, body limits, the error map, 404/405, the rate limit
- http          its Powertools adapter (API Gateway payload 2.0)
- chalice       its Chalice adapter (API Gateway payload 1.0)
- contracts     the versioned event contracts (pydantic); the source of events/schemas/
- outbox        the transactional outbox, its relay, PutEvents with partial-failure retries
- consumer      parses SQS batches of bus events, deduplicates them by event id (or lets handlers
                idempotent by construction do it) and hands each handler the contract and its
                ``Delivery``
- entry         the Lambda entry router: HTTP, SQS, stream and schedule events to their handlers
- discovery     Cloud Map lookups behind a TTL cache, with a static fallback
- a2a           window-to-window HTTP calls carrying the caller's token
- cursors       opaque pagination cursors
- currencies    ISO 4217 codes and minor units; money() writes amounts in them
- apidoc        a window's operations, declared for docs/openapi.json
- ids, clock    time-ordered ids and an injectable clock
- deps          the base of every window's dependencies, and the parts built over its table

Two cold-start rules every window follows (measured with bench/cold_start.py): a handler imports
``hmskit.store`` (boto3's stack) before Powertools, 25-40 ms less than the other way round (cause not
pinned down); and request models (pydantic, ~50 ms) are imported inside the routes that parse a
body, so a GET never loads pydantic.
"""
