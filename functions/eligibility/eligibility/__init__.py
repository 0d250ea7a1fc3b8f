"""The eligibility window (Chalice, API Gateway payload 1.0): may a citizen renew a passport online?

``rules`` holds the rules as plain functions over an application and today's date; ``app`` is the
Chalice app (handler string ``eligibility.app.app``) wrapped by ``hmskit.chalice.ChaliceWindow``
(problem+json, rate limit, identity, logging); ``models`` is the request body; ``bootstrap`` is the
composition root.
"""
