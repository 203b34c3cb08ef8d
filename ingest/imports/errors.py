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

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: the default (`cls(*args)`) could not rebuild it after pickling (the parse
        # process sends it to the importing process, `parse_process`).
        return (_rebuild, (self.message, self.reason, self.member, self.record), self.__dict__)


def _rebuild(message: str, reason: str, member: str | None, record: int | None) -> ImportRejected:
    return ImportRejected(message, reason=reason, member=member, record=record)
