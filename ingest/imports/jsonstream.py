"""Stream the elements of a top-level JSON array from a byte reader, with bounded memory.

Two interchangeable parsers:

- `iter_array` (default): the standard library's C scanner (`JSONDecoder.raw_decode`) applied element by
  element to a sliding text window. A window holds one read chunk plus at most one partial element, so
  memory stays flat whatever the file size. On these records it parses ~2x faster than ijson (measured in
  bench/README.md), which is what makes the import keep up with COPY.
- `iter_array_ijson`: ijson (yajl2_c) over the same reader, kept for comparison (`--parser ijson` in the
  benchmark) and as the reference behaviour in tests.

Both raise `JsonStreamError` with the element number and line/column on malformed or truncated JSON.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Final, Protocol

import ijson

CHUNK: Final = 1 << 20
# A single play record is < 2 KB; an element still undecodable after this much text is malformed.
MAX_ELEMENT_CHARS: Final = 4 << 20

_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
_DECODER: Final = json.JSONDecoder()


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class JsonStreamError(ValueError):
    def __init__(self, message: str, *, element: int) -> None:
        super().__init__(message)
        self.element = element


class NotAnArray(JsonStreamError):
    pass


def iter_array(reader: Reader, *, chunk_size: int = CHUNK) -> Iterator[object]:
    """Yield each element of the JSON array that `reader` holds."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    buffer = ""
    pos = 0
    eof = False
    consumed_lines = 1  # line number of buffer[0], for messages
    element = 0

    def more() -> bool:
        nonlocal buffer, pos, eof, consumed_lines
        if eof:
            return False
        raw = reader.read(chunk_size)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as error:
            raise JsonStreamError(f"the file is not UTF-8 text ({error.reason})", element=element + 1) from None
        if not raw:
            eof = True
        consumed_lines += buffer.count("\n", 0, pos)
        buffer = buffer[pos:] + text
        pos = 0
        return bool(raw) or bool(text)

    def where(at: int) -> str:
        line = consumed_lines + buffer.count("\n", 0, at)
        column = at - buffer.rfind("\n", 0, at)
        return f"line {line}, column {column}"

    # Opening bracket.
    while True:
        pos = _WHITESPACE.match(buffer, pos).end()  # type: ignore[union-attr]
        if pos < len(buffer) or not more():
            break
    if pos >= len(buffer):
        raise NotAnArray("the file is empty", element=0)
    if buffer[pos] != "[":
        raise NotAnArray("the file is not a JSON list", element=0)
    pos += 1
    expect_value = True  # right after `[` a value or `]` may come; after `,` a value must come
    first = True
    while True:
        pos = _WHITESPACE.match(buffer, pos).end()  # type: ignore[union-attr]
        if pos >= len(buffer):
            if more():
                continue
            raise JsonStreamError(
                f"the file ends in the middle of the list (after element {element}; truncated?)", element=element + 1
            )
        char = buffer[pos]
        if char == "]" and (first or not expect_value):
            pos += 1
            break
        if not expect_value:
            if char != ",":
                raise JsonStreamError(f"expected `,` or `]` at {where(pos)}", element=element + 1)
            pos += 1
            expect_value = True
            continue
        try:
            value, end = _DECODER.raw_decode(buffer, pos)
        except RecursionError:
            raise JsonStreamError(
                f"element {element + 1} is nested too deeply to be a play", element=element + 1
            ) from None
        except json.JSONDecodeError as error:
            if not eof and len(buffer) - pos < MAX_ELEMENT_CHARS:
                more()
                continue
            if eof and (error.pos >= len(buffer) or error.msg.startswith("Unterminated")):
                raise JsonStreamError(
                    f"the file ends in the middle of element {element + 1} (truncated?)", element=element + 1
                ) from None
            message = f"{error.msg.removesuffix(' at')} at {where(error.pos)}"
            raise JsonStreamError(message, element=element + 1) from None
        if end + 3 > len(buffer) and not eof and not isinstance(value, (dict, list, str)):
            # A bare number near the window's edge may continue in the next chunk (`2.` → `2.5e-3`).
            more()
            continue
        element += 1
        pos = end
        expect_value = False
        first = False
        yield value
    # Only whitespace may follow the list.
    while True:
        pos = _WHITESPACE.match(buffer, pos).end()  # type: ignore[union-attr]
        if pos < len(buffer):
            raise JsonStreamError(f"unexpected content after the list at {where(pos)}", element=element)
        if not more():
            return


def iter_array_ijson(reader: Reader) -> Iterator[object]:
    """The same contract with ijson (yajl2_c)."""
    count = 0
    try:
        for value in ijson.items(reader, "item", use_float=True, buf_size=256 * 1024):
            count += 1
            yield value
    except ijson.JSONError as error:
        raise JsonStreamError(str(error)[:160], element=count + 1) from None
