"""The one exception an import ends with: a message a person can act on."""

from __future__ import annotations


class ImportRejected(Exception):
    """The export cannot be imported. `str()` names the file/record, the problem and what to do."""

    def __init__(self, message: str, *, reason: str, member: str | None = None, record: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Short machine code for stats and logs: `zip_too_large`, `bad_json`, `bad_field`, …
        self.reason = reason
        self.member = member
        self.record = record
