"""Typed Spotify Web API client: models, errors, rate-limit policy, token handling, removed-endpoint memory.

See DESIGN §2 for the facts this package respects: the 50-play window, removed batch endpoints and fields for
development-mode apps, refresh tokens that expire 6 months after consent, and `Retry-After` that can be hours.
"""
