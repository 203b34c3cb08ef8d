"""The admin service: every query behind the `/admin` endpoints (the polar pattern: thin router → service).

One module per domain, each with its models and its queries: `users` (who, token health, lifecycle), `sync`
(sync state and the control actions on it), `imports` (import jobs), `jobs` (job runs), `logs` (search and
tail) and `diagnostics` (the health checks); `common` holds what they share (the error, a page, input checks).

All SQL is SQLAlchemy Core over `core.tables`, so every value a caller sends is a bound parameter.
"""
