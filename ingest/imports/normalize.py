"""One export record → one `raw.export_records` row (spec §5.2 "Normalization mapping").

Privacy by construction: a row is built from an allow-list of fields, never by copying the record, so the
IP address (`ip_addr`, `ip_addr_decrypted`), user agent (`user_agent_decrypted`), `username` and anything
Spotify adds later never reach the database. The optional fields go into `extra` only when
IMPORT_STORE_OPTIONAL_FIELDS is on. `incognito` is always kept (normalised boolean): it is not identifying
and analytics need it to exclude incognito plays by default (DESIGN §4).

Identity: the Spotify track id comes from `spotify_track_uri` (`spotify:track:<id>`); without one a track gets
`"local:" + sha1(artist_name + "|" + track_name + "|" + album_name)` exactly as the spec writes it (names as
exported, a missing name as the empty string, UTF-8, hex digest).

Content kind: each record by its own fields, never by its file — a track URI or name is music (`track`),
episode fields a podcast `episode`, audiobook fields an `audiobook` (`Streaming_History_Video_*` files hold
ordinary music and podcast rows). No field of Spotify's documented formats marks a record as video, so no
export record is classified `video`.

Plausible time: a record whose end time is before Spotify's launch or more than a day in the future
(`core.play_time`), or that no date can hold (`0000-01-01`, year 10000), is skipped — counted as
`out_of_range` and described with its file and record number in the job's stats — and the rest imports.

Idempotency: `record_key` = `<end time, UTC, 2023-01-01T10:00:00Z>|<first 96 bits of sha1(source format, content
kind, item identity, ms played[, incognito]) in hex>`. The same play in a re-import or in an overlapping later
export gets the same key, so the unique `(user_id, record_key)` turns it into a no-op; identical rows repeated
inside one export are one play, and an incognito play is not the twin of a normal one (`|incognito` is hashed
only for incognito records, so the keys of every other record are the ones earlier versions computed;
migration 0005 re-keyed the incognito and formerly-`video` rows stored before). The time prefix keeps the
unique index's inserts in time order (exports are chronological), which makes loading ~2x faster than a
purely random key (index pages stay hot, far less WAL).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from core.play_time import EARLIEST, latest_allowed, out_of_range
from ingest.imports.errors import ImportRejected
from ingest.imports.formats import MemberKind
from ingest.imports.pgtime import PG_EPOCH, micros_of

# Column order of the rows produced here (and of the COPY into the staging table).
COLUMNS: Final = (
    "user_id",
    "import_job_id",
    "record_key",
    "played_at",
    "ms_played",
    "content_kind",
    "source_format",
    "track_id",
    "track_name",
    "artist_name",
    "album_name",
    "spotify_uri",
    "episode_name",
    "show_name",
    "audiobook_title",
    "audiobook_chapter_title",
    "incognito",
    "extra",
    "source_file",
)

# `played_at` (index 3) is PostgreSQL's microseconds since 2000-01-01 UTC (`pgtime`: why), not a datetime.
type Row = tuple[
    uuid.UUID,
    int,
    str,
    int,
    int,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    bool | None,
    str | None,
    str,
]


class ExtendedPlay(msgspec.Struct, gc=False):
    """What the importer reads of an extended-history record (`Streaming_History_*`, `endsong_*`): an
    allow-list. `jsonstream.iter_array_typed` decodes records straight into it, so the IP address, user
    agent, user name and anything else Spotify adds are skipped by the decoder and never become Python
    objects. The decoder enforces the types below; a record it refuses goes the dict way (`normalize`),
    which converts what is convertible (`ms_played` as `1234.0`) and names the field that is wrong.
    `Any` fields are read leniently (a value of the wrong type is ignored, as before).
    """

    ts: str
    ms_played: int
    master_metadata_track_name: str | None = None
    master_metadata_album_artist_name: str | None = None
    master_metadata_album_album_name: str | None = None
    spotify_track_uri: str | None = None
    episode_name: str | None = None
    episode_show_name: str | None = None
    spotify_episode_uri: str | None = None
    audiobook_title: str | None = None
    audiobook_uri: str | None = None
    audiobook_chapter_uri: str | None = None
    audiobook_chapter_title: str | None = None
    incognito_mode: Any = None


class ExtendedPlayDetailed(ExtendedPlay, gc=False):
    """`ExtendedPlay` plus the optional fields, read only when IMPORT_STORE_OPTIONAL_FIELDS is on (decoding
    them costs ~20 % of the decoder's time, for nothing when they are not kept)."""

    reason_start: Any = None
    reason_end: Any = None
    platform: Any = None
    shuffle: Any = None
    skipped: Any = None
    offline: Any = None
    offline_timestamp: Any = None
    conn_country: Any = None


_DETAILED_FIELDS: Final = ExtendedPlayDetailed.__struct_fields__


def play_type(store_optional: bool) -> type[ExtendedPlay]:
    """The type extended-history records are decoded into."""
    return ExtendedPlayDetailed if store_optional else ExtendedPlay


# Skip reasons (counted in job_runs.stats["skipped"]).
SKIP_NO_ITEM: Final = "no_item"  # neither a track, an episode nor an audiobook is named
SKIP_OUT_OF_RANGE: Final = "out_of_range"  # the end time cannot be a real play (`core.play_time`)
# How many skipped records are described one by one (file, record, why) in job_runs.stats.
MAX_SKIP_DETAILS: Final = 20
# A date-time text whose year no date can hold (0, negative, more than 4 digits): out of range, not garbage.
_EXTREME_YEAR: Final = re.compile(r"^\s*([+-]?)(\d{4,})-\d\d-\d\d")

# Optional account-data fields (source name, stored name), stored only when enabled; the extended-history ones
# are the fields of `ExtendedPlayDetailed`.
_OPTIONAL_ACCOUNT: Final = (("reasonStart", "reason_start"), ("reasonEnd", "reason_end"))

_MAX_MS: Final = 2_147_483_647
_EARLIEST_MICROS: Final = micros_of(EARLIEST)
_fromisoformat = datetime.fromisoformat
_sha1 = hashlib.sha1
_EXTENDED_TEXT_FIELDS: Final = (
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_chapter_title",
    "audiobook_chapter_uri",
    "audiobook_uri",
)
_USE_ORIGINAL: Final = "Use the original export as Spotify sent it."

# Above this an `offline_timestamp` is in milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_OFFLINE_MS_THRESHOLD: Final = 100_000_000_000


def local_track_id(artist_name: str | None, track_name: str | None, album_name: str | None) -> str:
    """`local:` + sha1(artist|track|album), the spec's deterministic id for tracks without a URI."""
    joined = f"{artist_name or ''}|{track_name or ''}|{album_name or ''}"
    return "local:" + hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def spotify_track_id(uri: str | None) -> str | None:
    """`spotify:track:<id>` → `<id>`; anything else (local files, episodes) → None."""
    if uri and uri.startswith("spotify:track:"):
        track_id = uri[14:]
        return track_id or None
    return None


def offline_timestamp_utc(value: object) -> str | None:
    """`offline_timestamp` arrives in seconds in some exports and milliseconds in others."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or not math.isfinite(value):
        return None
    seconds = value / 1000 if value >= _OFFLINE_MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except OverflowError, OSError, ValueError:
        return None


def _canonical(when: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` (with `.ffffff` only when there are fractions), in UTC."""
    text = when.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _key(when: str, *parts: object) -> str:
    digest = hashlib.sha1("|".join(str(part) for part in parts).encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{when}|{digest[:24]}"


@dataclass(slots=True)
class Normalizer:
    """Normalises the records of one member. Raises `ImportRejected` naming file and record on bad data."""

    user_id: uuid.UUID
    import_job_id: int
    member: str
    kind: MemberKind
    store_optional: bool
    # The latest plausible end time (`core.play_time.latest_allowed()` when the import started).
    latest: datetime = dataclasses.field(default_factory=latest_allowed)
    # Descriptions of the first out-of-range records (file, record number, value, why), for the job's stats.
    skip_details: list[str] = dataclasses.field(default_factory=list)
    _latest_micros: int = 0

    def __post_init__(self) -> None:
        self._latest_micros = micros_of(self.latest)

    def _out_of_range(self, index: int, field_name: str, raw: object, why: str) -> str:
        if len(self.skip_details) < MAX_SKIP_DETAILS:
            self.skip_details.append(f"{self.member}, record {index + 1}: `{field_name}` {raw!r:.40} {why}; skipped")
        return SKIP_OUT_OF_RANGE

    def _reject(self, index: int, problem: str, what_to_do: str) -> ImportRejected:
        return ImportRejected(
            f"{self.member}, record {index + 1}: {problem}. {what_to_do}",
            reason="bad_field",
            member=self.member,
            record=index + 1,
        )

    def _text(self, record: dict[str, object], field: str, index: int) -> str | None:
        value = record.get(field)
        if value is None or isinstance(value, str):
            return value or None
        raise self._reject(
            index,
            f"field `{field}` should be text or null but is {type(value).__name__} {value!r:.40}",
            "The file was changed after Spotify produced it; use the original export.",
        )

    def _ms(self, value: object, field: str, index: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._reject(
                index,
                f"field `{field}` should be a whole number of milliseconds but is {value!r:.40}",
                "The file was changed after Spotify produced it; use the original export.",
            )
        if isinstance(value, float):
            if not value.is_integer():
                raise self._reject(
                    index, f"field `{field}` is not a whole number ({value})", "Use the original export."
                )
            value = int(value)
        if value < 0 or value > 2_147_483_647:
            raise self._reject(index, f"field `{field}` is out of range ({value})", "Use the original export.")
        return value

    def _when(self, raw: object, field: str, index: int) -> datetime | None:
        """The UTC instant of a date-time text; None for one no date can hold (year 0, year 10000, an offset
        that pushes it past year 1 or 9999): out of range, like `0001-01-01`."""
        if not isinstance(raw, str):
            raise self._reject(
                index,
                f"field `{field}` should be a date-time text but is {raw!r:.40}",
                "The file was changed after Spotify produced it; use the original export.",
            )
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            extreme = _EXTREME_YEAR.match(raw)
            if extreme is not None and (extreme[1] or not 1 <= int(extreme[2]) <= 9999):
                return None
            raise self._reject(
                index, f"field `{field}` is not a date-time ({raw!r:.40})", "Use the original export."
            ) from None
        # Both `ts` and `endTime` are UTC (DESIGN §2); `endTime` carries no zone.
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        try:
            return when.astimezone(UTC)
        except OverflowError:
            return None

    def _checked_time(self, raw: object, field: str, index: int) -> datetime | str:
        """`_when`, then the plausibility check: the instant, or the `out_of_range` skip reason."""
        when = self._when(raw, field, index)
        if when is None:
            return self._out_of_range(index, field, raw, "is not a date any calendar of plays can hold")
        why = out_of_range(when, self.latest)
        return self._out_of_range(index, field, raw, why) if why is not None else when

    def __call__(self, record: object, index: int) -> Row | str:
        return self.normalize(record, index)

    def normalize(self, record: object, index: int) -> Row | str:
        """A row, or a skip reason (`no_item`)."""
        kind = type(record)
        if kind is ExtendedPlay or kind is ExtendedPlayDetailed:
            return self._extended(record, index)  # type: ignore[arg-type]
        if type(record) is dict and "ts" in record:
            return self._extended_dict(record, index)
        if not isinstance(record, dict):
            raise ImportRejected(
                f"{self.member}, record {index + 1}: expected an object with play fields but found "
                f"{type(record).__name__}. This file is not Spotify streaming history; remove it from the ZIP.",
                reason="bad_record",
                member=self.member,
                record=index + 1,
            )
        if "ts" in record:
            return self._extended_dict(record, index)
        if "endTime" in record:
            return self._account(record, index)
        keys = ", ".join(sorted(str(key) for key in record)[:8])
        raise ImportRejected(
            f"{self.member}, record {index + 1}: unknown record format (fields: {keys}); a streaming history record "
            "has `ts` (extended history) or `endTime` (account data). Remove this file from the ZIP or use the "
            "original Spotify export.",
            reason="unknown_format",
            member=self.member,
            record=index + 1,
        )

    def _extended_dict(self, record: dict[str, Any], index: int) -> Row | str:
        """A record the typed decoder did not take: check (and convert) its fields, then the same mapping."""
        for field in _EXTENDED_TEXT_FIELDS:
            value = record.get(field)
            if value is not None and type(value) is not str:
                self._text(record, field, index)  # raises, naming the field
        values: dict[str, Any] = {name: record.get(name) for name in _DETAILED_FIELDS}
        values["ms_played"] = self._ms(values["ms_played"], "ms_played", index)
        return self._extended(ExtendedPlayDetailed(**values), index)

    def _extended(self, play: ExtendedPlay, index: int) -> Row | str:
        # Hot path (one call per record): plain locals; the slow helpers only run to convert or reject an
        # unusual value. Text fields are `str | None` here (the decoder or `_extended_dict` checked them).
        ts = play.ts
        ms_played = play.ms_played
        track_name = play.master_metadata_track_name
        artist_name = play.master_metadata_album_artist_name
        album_name = play.master_metadata_album_album_name
        track_uri = play.spotify_track_uri
        episode_name = play.episode_name
        show_name = play.episode_show_name
        episode_uri = play.spotify_episode_uri
        audiobook_title = play.audiobook_title
        chapter_title = play.audiobook_chapter_title
        audiobook_uri = play.audiobook_chapter_uri or play.audiobook_uri
        if ms_played < 0 or ms_played > _MAX_MS:
            ms_played = self._ms(ms_played, "ms_played", index)
        parsed: datetime | None = None
        played_at = -1
        if type(ts) is str:
            try:
                parsed = _fromisoformat(ts)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is UTC:  # `...Z`
                # micros_of(parsed), inlined: this runs for every record.
                delta = parsed - PG_EPOCH
                played_at = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        # The usual record (`...Z`, in range) passes with two comparisons; the rest (`played_at` still -1 for
        # anything but `...Z`) is checked and converted.
        if played_at < _EARLIEST_MICROS or played_at > self._latest_micros:
            checked = self._checked_time(ts, "ts", index)
            if isinstance(checked, str):
                return checked
            parsed = checked
            played_at = micros_of(parsed)
        track_id: str | None = None
        if track_uri or track_name:
            content_kind = "track"
            # spotify_track_id(), inlined: this runs for most records.
            if track_uri and track_uri.startswith("spotify:track:") and len(track_uri) > 14:
                track_id = track_uri[14:]
            else:
                track_id = local_track_id(artist_name, track_name, album_name)
            uri = track_uri or None
            identity = track_uri or track_id
        elif episode_uri or episode_name or show_name:
            content_kind = "episode"
            uri = episode_uri or None
            identity = episode_uri or f"{show_name or ''}|{episode_name or ''}"
        elif audiobook_uri or audiobook_title or chapter_title:
            content_kind = "audiobook"
            uri = audiobook_uri or None
            identity = audiobook_uri or f"{audiobook_title or ''}|{chapter_title or ''}"
        else:
            return SKIP_NO_ITEM
        incognito = play.incognito_mode
        if type(incognito) is not bool:
            incognito = None
        extra: str | None = None
        if self.store_optional and type(play) is ExtendedPlayDetailed:
            extra = self._extended_extra(play)
        # The export's own `2023-01-01T10:00:00Z` spelling is the canonical one; other spellings of the same
        # instant are brought to it so that every export of a play yields the same key.
        if len(ts) != 20 or ts[19] != "Z":
            assert parsed is not None  # a time was read above, or the record returned
            ts = _canonical(parsed)
        key_source = f"x|{content_kind}|{identity}|{ms_played}"
        if incognito:
            key_source += "|incognito"
        digest = _sha1(key_source.encode(), usedforsecurity=False).hexdigest()
        return (
            self.user_id,
            self.import_job_id,
            f"{ts}|{digest[:24]}",
            played_at,
            ms_played,
            content_kind,
            "extended",
            track_id,
            track_name or None,
            artist_name or None,
            album_name or None,
            uri,
            episode_name or None,
            show_name or None,
            audiobook_title or None,
            chapter_title or None,
            incognito,
            extra,
            self.member,
        )

    def _extended_extra(self, play: ExtendedPlayDetailed) -> str | None:
        extra: dict[str, object] = {}
        for name, value in (
            ("reason_start", play.reason_start),
            ("reason_end", play.reason_end),
            ("platform", play.platform),
        ):
            if isinstance(value, str) and value:
                extra[name] = value
        for name, value in (("shuffle", play.shuffle), ("skipped", play.skipped), ("offline", play.offline)):
            if isinstance(value, bool):
                extra[name] = value
        country = play.conn_country
        if isinstance(country, str) and country:
            extra["country"] = country
        offline_at = offline_timestamp_utc(play.offline_timestamp)
        if offline_at is not None:
            extra["offline_timestamp"] = offline_at
        incognito = play.incognito_mode
        if isinstance(incognito, bool):
            extra["incognito_mode"] = incognito
        return json.dumps(extra, separators=(",", ":")) if extra else None

    def _account(self, record: dict[str, object], index: int) -> Row | str:
        checked = self._checked_time(record["endTime"], "endTime", index)
        if isinstance(checked, str):
            return checked
        ms_played = self._ms(record.get("msPlayed"), "msPlayed", index)
        text = self._text
        track_id: str | None = None
        track_name = artist_name = episode_name = show_name = audiobook_title = chapter_title = None
        if "podcastName" in record or "episodeName" in record:
            content_kind = "episode"
            show_name = text(record, "podcastName", index)
            episode_name = text(record, "episodeName", index)
            if not (show_name or episode_name):
                return SKIP_NO_ITEM
            identity = f"{show_name or ''}|{episode_name or ''}"
        elif "audiobookName" in record or "chapterName" in record:  # StreamingHistory_audiobook_<n>.json
            content_kind = "audiobook"
            audiobook_title = text(record, "audiobookName", index)
            chapter_title = text(record, "chapterName", index)
            if not (audiobook_title or chapter_title):
                return SKIP_NO_ITEM
            identity = f"{audiobook_title or ''}|{chapter_title or ''}"
        else:
            artist_name = text(record, "artistName", index)
            track_name = text(record, "trackName", index)
            if not track_name:
                return SKIP_NO_ITEM
            content_kind = "track"
            # Account data has no album: the spec's formula with an empty album name.
            track_id = local_track_id(artist_name, track_name, None)
            identity = f"{artist_name or ''}|{track_name}"
        extra: str | None = None
        if self.store_optional:
            optional = {
                target: record[source]
                for source, target in _OPTIONAL_ACCOUNT
                if isinstance(record.get(source), str) and record[source]
            }
            extra = json.dumps(optional, separators=(",", ":")) if optional else None
        return (
            self.user_id,
            self.import_job_id,
            _key(_canonical(checked), "a", content_kind, identity, ms_played),
            micros_of(checked),
            ms_played,
            content_kind,
            "account",
            track_id,
            track_name,
            artist_name,
            None,
            None,
            episode_name,
            show_name,
            audiobook_title,
            chapter_title,
            None,
            extra,
            self.member,
        )
