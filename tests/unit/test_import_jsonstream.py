"""The streaming array parsers: every chunk boundary, every malformation, the same results from all three."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import msgspec
import pytest

from ingest.imports.jsonstream import JsonStreamError, NotAnArray, iter_array, iter_array_ijson, iter_array_typed

RECORDS: list[dict[str, object]] = [
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


# --- iter_array_typed: msgspec fast path with the standard library as fallback --------------------------------


class Play(msgspec.Struct):
    ts: str
    ms_played: int
    name: str | None = None


def _fields(item: object) -> object:
    """A decoded element as comparable data: a Play and a dict reduce to the Play's fields."""
    if isinstance(item, Play):
        return msgspec.structs.asdict(item)
    if isinstance(item, dict):
        return {name: item.get(name) for name in Play.__struct_fields__}
    return item


def _play(n: int, **extra: object) -> dict[str, object]:
    return {"ts": f"2023-01-01T10:{n % 60:02d}:00Z", "ip_addr": "203.0.113.9", "ms_played": n, **extra}


def _both(data: bytes, chunk_size: int) -> tuple[list[object] | str, list[object] | str]:
    """(fast, slow): each the elements as data, or the error message and element number."""
    results: list[list[object] | str] = []
    parsers: list[Callable[[], Iterator[object]]] = [
        lambda: iter_array_typed(io.BytesIO(data), Play, chunk_size=chunk_size),
        lambda: iter_array(io.BytesIO(data), chunk_size=chunk_size),
    ]
    for parse in parsers:
        items: list[object] = []
        try:
            items.extend(_fields(item) for item in parse())
        except JsonStreamError as error:
            results.append(f"{type(error).__name__}: {error} (element {error.element}, after {len(items)} elements)")
        else:
            results.append(items)
    return results[0], results[1]


REGULAR: list[object] = [_play(n, name=f"Ünï {n} ✓") for n in range(40)]
ODD_TEXTS: dict[str, list[object]] = {
    "braces and commas inside strings": [_play(1, name='x}, {"ts": "y"}, '), _play(2, name="}\n,"), *REGULAR],
    "nested values the type skips": [_play(1, extra={"a": {"b": [1, {"c": 2}]}, "d": 3}), *REGULAR],
    "a float ms_played (dict from there on)": [*REGULAR[:20], _play(1) | {"ms_played": 1.0}, *REGULAR[20:]],
    "a null and a text element": [*REGULAR[:25], None, "text", *REGULAR[25:]],
    "a wrong type": [*REGULAR[:30], _play(1) | {"name": 7}, *REGULAR[30:]],
    "a missing field": [*REGULAR[:10], {"ts": "2023-01-01T00:00:00Z"}, *REGULAR[10:]],
}


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 500, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("case", ["regular", *ODD_TEXTS])
def test_typed_parser_gives_what_the_standard_library_gives(chunk_size: int, indent: int | None, case: str) -> None:
    records = REGULAR if case == "regular" else ODD_TEXTS[case]
    data = ("\ufeff" + json.dumps(records, indent=indent, ensure_ascii=False)).encode()
    fast, slow = _both(data, chunk_size)
    assert fast == slow
    assert isinstance(fast, list) and len(fast) == len(records)


def test_typed_parser_decodes_regular_files_into_the_type_and_hands_over_at_the_first_odd_element() -> None:
    data = json.dumps(ODD_TEXTS["a float ms_played (dict from there on)"], indent=2).encode()
    items = list(iter_array_typed(io.BytesIO(data), Play, chunk_size=512))
    kinds = [type(item) for item in items]
    assert kinds[0] is Play and kinds[-1] is dict  # fast first, dicts after the odd element
    assert kinds == sorted(kinds, key=lambda kind: kind is dict)  # one hand-over, never back
    assert sum(kind is Play for kind in kinds) >= 10
    regular = json.dumps(REGULAR * 50, indent=2).encode()
    assert all(type(item) is Play for item in iter_array_typed(io.BytesIO(regular), Play, chunk_size=4096))


def _broken(records: list[object], indent: int | None) -> dict[str, bytes]:
    text = json.dumps(records, indent=indent, ensure_ascii=False)
    middle = len(text) // 2
    return {
        "truncated": text[: middle + 7].encode(),
        "trailing comma": (text[:-1].rstrip() + ",]").encode(),
        "missing comma": text.replace("}, {", "} {", 1).replace("},\n  {", "}\n  {", 1).encode(),
        "garbage between records": (
            text[:middle] + text[middle:].replace("}, ", "}, @@", 1).replace("},\n", "},\n@@", 1)
        ).encode(),
        "not UTF-8 in the middle": text[:middle].encode() + b"\xff\xfe" + text[middle:].encode(),
        "content after the list": (text + '\n{"b": 2}').encode(),
        "not a list": b'{"playlists": []}',
        "empty": b"   ",
    }


@pytest.mark.parametrize("chunk_size", [3, 64, 1000, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_typed_parser_reports_broken_files_exactly_as_the_standard_library(chunk_size: int, indent: int | None) -> None:
    for name, data in _broken(REGULAR, indent).items():
        fast, slow = _both(data, chunk_size)
        assert isinstance(slow, str) and isinstance(fast, str), name
        if name == "not UTF-8 in the middle":
            # Undecodable bytes are found a read chunk at a time, so the element named depends on how far
            # parsing had got when that chunk arrived (with either parser); the message is the same.
            fast, slow = fast.split(" (element")[0], slow.split(" (element")[0]
        assert fast == slow, name
