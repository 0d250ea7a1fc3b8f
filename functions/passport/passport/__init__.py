"""The passport window: renewal applications, checked by eligibility, moved forward by events.

``handler`` (HTTP routes and the one Lambda entry point), ``domain`` (the renewal, its status model
and the saga steps, as plain functions over ports), ``adapters`` (the table item shape, eligibility
over A2A), ``consumers`` (bus events -> saga steps), ``models`` (the request body), ``bootstrap``
(the composition root).
"""
