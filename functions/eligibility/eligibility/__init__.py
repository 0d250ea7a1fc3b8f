"""The eligibility window (Chalice, API Gateway payload 1.0): may a citizen renew a passport online?

``rules`` holds the rules as plain functions over an application and today's date; ``app`` is the
Chalice app (handler string ``eligibility.app.app``); ``models`` is the request body; ``settings``
the window's own setting; ``bootstrap`` the composition root.
"""
