"""The authorization server's refusal of a client (registration, lookup, metadata document)."""

from __future__ import annotations


class ClientError(Exception):
    """A registration or client lookup was refused (RFC 7591 §3.2.2 error codes)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
