"""Stream the elements of a top-level JSON array from a byte reader, with bounded memory.

Three interchangeable parsers:

- `iter_array_typed` (default for extended history): msgspec decodes each read chunk's complete elements in
  one call, straight into a typed `msgspec.Struct` — fields the type does not name are skipped without becoming
  Python objects. ~5x faster than the standard library on these records (bench/README.md). A chunk is cut after
  the last `}` followed by `,`; a cut that falls inside a string or a nested value cannot decode (the text
  would end inside the string or with an unclosed container), so a wrong cut is always detected. Anything the
  fast path does not take — a cut it cannot decode, an element of an unexpected type or shape, bad UTF-8 —
  hands the rest of the file, from the first undecoded element, to `iter_array`, which yields dicts (and
  reports errors with their element and line).
- `iter_array`: the standard library's C scanner (`JSONDecoder.raw_decode`) applied element by
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
import msgspec

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


def iter_array(
    reader: Reader,
    *,
    chunk_size: int = CHUNK,
    elements_before: int = 0,
    lines_before: int = 0,
    column_shift: int = 0,
) -> Iterator[object]:
    """Yield each element of the JSON array that `reader` holds.

    `elements_before`, `lines_before`, `column_shift` (characters before the reader's first one on its
    line): when `reader` replays the rest of a file whose start `iter_array_typed` read, so that messages
    count elements, lines and columns from the start of the file.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    buffer = ""
    pos = 0
    eof = False
    consumed_lines = 1 + lines_before  # line number of buffer[0], for messages
    consumed_column = column_shift  # characters before buffer[0] on its line
    element = elements_before

    def more() -> bool:
        nonlocal buffer, pos, eof, consumed_lines, consumed_column
        if eof:
            return False
        raw = reader.read(chunk_size)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as error:
            raise JsonStreamError(f"the file is not UTF-8 text ({error.reason})", element=element + 1) from None
        if not raw:
            eof = True
        newlines = buffer.count("\n", 0, pos)
        consumed_lines += newlines
        consumed_column = pos - buffer.rfind("\n", 0, pos) - 1 if newlines else consumed_column + pos
        buffer = buffer[pos:] + text
        pos = 0
        return bool(raw) or bool(text)

    def where(at: int) -> str:
        line = consumed_lines + buffer.count("\n", 0, at)
        newline = buffer.rfind("\n", 0, at)
        column = at - newline if newline >= 0 else consumed_column + at + 1
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


_BOM: Final = b"\xef\xbb\xbf"
# What msgspec raises for text it will not take (ValidationError is a DecodeError; bad UTF-8 is a ValueError).
_UNDECODABLE: Final = (msgspec.DecodeError, ValueError, RecursionError)
_SPACE: Final = frozenset(b" \t\n\r")


class Prefixed:
    """A reader that returns `head` first, then the rest of `reader` (a parser that has read ahead hands
    what it read back this way). `read(0)` is a probe (ijson does it) and returns nothing."""

    def __init__(self, head: bytes, reader: Reader) -> None:
        self._head = head
        self._reader = reader

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._reader.read(size)


def _columns(text: bytes) -> int:
    """Characters after the last newline of `text` (all of it when there is none)."""
    return len(text[text.rfind(b"\n") + 1 :].decode("utf-8", "replace"))


def _last_cut(buffer: bytes) -> int:
    """Index just past the last `}` that is followed (after whitespace) by `,`, or -1."""
    end = len(buffer)
    brace = buffer.rfind(b"}", 0, end)
    while brace >= 0:
        after = brace + 1
        while after < end and buffer[after] in _SPACE:
            after += 1
        if after < end and buffer[after] == 0x2C:  # ","
            return brace + 1
        brace = buffer.rfind(b"}", 0, brace)
    return -1


def iter_array_typed[T](reader: Reader, element_type: type[T], *, chunk_size: int = CHUNK) -> Iterator[T | object]:
    """Yield the elements of the JSON array in `reader`: `element_type` instances decoded by msgspec while the
    file is regular, then (from the first element it cannot take) dicts and values from `iter_array`."""
    # After the first run, `pending` starts at the `,` behind the last decoded element (kept so that a stray
    # `,]` stays an error in the fallback); the decoder is given the elements after that comma.
    decoder: msgspec.json.Decoder[list[T]] = msgspec.json.Decoder(list[element_type])  # type: ignore[valid-type]
    pending = reader.read(chunk_size).removeprefix(_BOM)
    start = 0
    while start < len(pending) and pending[start] in _SPACE:
        start += 1
    if start == len(pending) or pending[start] != 0x5B:  # "[" — or empty/short: let the slow path say what is wrong
        yield from iter_array(Prefixed(pending, reader), chunk_size=chunk_size)
        return
    lines = pending.count(b"\n", 0, start)
    column = _columns(pending[: start + 1]) + 1  # of the first byte after `[`
    pending = pending[start + 1 :]
    decoded = 0
    eof = False
    while not eof:
        more = reader.read(chunk_size)
        eof = not more
        if more:
            pending += more
        first = 0
        if decoded:
            first = pending.find(b",")
            if first < 0 and not eof and not pending.strip(b" \t\n\r"):
                continue  # only whitespace so far
            if first < 0 or pending[:first].strip(b" \t\n\r"):
                break  # not `,` next: the fallback says what it is
            first += 1
        if eof:  # the rest is the last elements and the closing `]`: one decode when it is regular
            try:
                elements = decoder.decode(b"[" + pending[first:])
            except _UNDECODABLE:
                break
            if decoded and not elements:
                break  # `, ]`: the fallback reports it
            yield from elements
            return
        cut = _last_cut(pending)
        if cut < first:
            if len(pending) > MAX_ELEMENT_CHARS:
                break
            continue
        try:
            elements = decoder.decode(b"[" + pending[first:cut] + b"]")
        except _UNDECODABLE:
            break
        yield from elements
        decoded += len(elements)
        consumed = pending[:cut]
        newlines = consumed.count(b"\n")
        lines += newlines
        column = _columns(consumed) + 1 if newlines else column + _columns(consumed)
        pending = pending[cut:]
    lead = b"[null" if decoded else b"["
    rest = iter_array(
        Prefixed(lead + pending, reader),
        chunk_size=chunk_size,
        elements_before=decoded - 1 if decoded else 0,
        lines_before=lines,
        column_shift=column - (len(lead) + 1),
    )
    if decoded:
        next(rest)  # the placeholder `null`
    yield from rest


def iter_array_ijson(reader: Reader) -> Iterator[object]:
    """The same contract with ijson (yajl2_c)."""
    count = 0
    try:
        for value in ijson.items(reader, "item", use_float=True, buf_size=256 * 1024):
            count += 1
            yield value
    except ijson.JSONError as error:
        raise JsonStreamError(str(error)[:160], element=count + 1) from None
