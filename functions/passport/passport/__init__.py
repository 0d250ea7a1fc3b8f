"""The passport window: renewal applications, checked by eligibility, moved forward by events.

``handler`` (HTTP routes and the one Lambda entry point), ``domain`` (the renewal, its status model
and the saga steps, as plain functions over ports), ``adapters`` (the table item shape, eligibility
over A2A), ``events`` (renewals -> bus contracts and back), ``consumers`` (bus events -> saga steps),
``models`` (the request body), ``settings`` (the renewal fee), ``bootstrap`` (the composition root).
"""
