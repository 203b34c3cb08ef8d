"""The streaming array parser: every chunk boundary, every malformation, same results as ijson."""

from __future__ import annotations

import io
import json

import pytest

from ingest.imports.jsonstream import JsonStreamError, NotAnArray, iter_array, iter_array_ijson

RECORDS = [
    {"ts": "2023-01-01T10:00:00Z", "ms_played": 12, "name": 'Ünïcødé ✓ "quoted" \\ back', "x": None},
    {"ts": "2023-01-01T10:01:00Z", "ms_played": 0, "nested": {"a": [1, 2.5, True, False]}},
    {},
]


def _parse(text: str | bytes, chunk_size: int) -> list[object]:
    data = text.encode() if isinstance(text, str) else text
    return list(iter_array(io.BytesIO(data), chunk_size=chunk_size))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_any_chunking_gives_the_same_records(chunk_size: int, indent: int | None) -> None:
    text = json.dumps(RECORDS, indent=indent, ensure_ascii=False)
    assert _parse(text, chunk_size) == RECORDS
    assert list(iter_array_ijson(io.BytesIO(text.encode()))) == RECORDS


@pytest.mark.parametrize("chunk_size", [1, 5, 1 << 20])
def test_numbers_split_across_chunks_and_bom_and_empty_list(chunk_size: int) -> None:
    assert _parse("\ufeff [ 12345678 , 2.5e3,-7 ] \n", chunk_size) == [12345678, 2500.0, -7]
    assert _parse("[]", chunk_size) == []
    assert _parse("  [ \n ]  ", chunk_size) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[{"ts": "2023"}, {"ts": "20', "ends in the middle"),
        ('[{"ts": "2023"}, {"ts": "2024"}', "ends in the middle"),
        ('[{"ts": "2023"} {"ts": "2024"}]', "expected `,` or `]` at line 1"),
        ('[{"ts": "2023"},]', "Expecting value"),
        ('[{"ts": 2023"}]', "line 1, column"),
        ('[{"a": 1}]\n{"b": 2}', "unexpected content after the list at line 2, column 1"),
        ('[{"a": 1}, {"b": NaNo}]', "Expecting"),
    ],
)
def test_malformed_json_is_reported_with_position(text: str, fragment: str) -> None:
    for chunk_size in (3, 1 << 20):
        with pytest.raises(JsonStreamError) as caught:
            _parse(text, chunk_size)
        assert fragment in str(caught.value)


def test_not_a_list_and_empty_and_not_utf8() -> None:
    with pytest.raises(NotAnArray, match="not a JSON list"):
        _parse('{"playlists": []}', 8)
    with pytest.raises(NotAnArray, match="empty"):
        _parse("   ", 8)
    with pytest.raises(JsonStreamError, match="not UTF-8"):
        _parse(b'[{"a": "\xff\xfe"}]', 8)


def test_records_already_yielded_before_an_error_are_counted() -> None:
    seen: list[object] = []
    with pytest.raises(JsonStreamError) as caught:
        seen.extend(iter_array(io.BytesIO(b'[{"a": 1}, {"a": 2}, {"a": '), chunk_size=4))
    assert seen == [{"a": 1}, {"a": 2}]
    assert caught.value.element == 3


def test_absurd_nesting_is_a_clear_error() -> None:
    with pytest.raises(JsonStreamError, match="nested too deeply"):
        _parse("[" + "[" * 100_000 + "]" * 100_000 + "]", 1 << 20)
