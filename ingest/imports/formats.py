"""Which members of an export are streaming history, and of which format (DESIGN §2).

The format is detected from the keys of a file's first record (`ts` + `ms_played`: extended history;
`endTime` + `msPlayed`: account data); the file name (the names Spotify has used over the years, at any
folder depth) is only a hint, used when the first record cannot tell (an empty list). So a history file
the user renamed is still imported, a file whose name and content disagree is read by its content, and a
file named like history that holds something else is refused with its name. Each record is then
classified by its own fields (`normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Final, Literal


class MemberKind(StrEnum):
    extended_audio = "extended_audio"  # Streaming_History_Audio_<years>_<n>.json
    extended_video = "extended_video"  # Streaming_History_Video_<years>.json
    endsong = "endsong"  # endsong_<n>.json (older extended history)
    account_music = "account_music"  # StreamingHistory_music_<n>.json
    account_podcast = "account_podcast"  # StreamingHistory_podcast_<n>.json
    account_audiobook = "account_audiobook"  # StreamingHistory_audiobook_<n>.json
    account_legacy = "account_legacy"  # StreamingHistory<n>.json (music and podcasts together)


_PATTERNS: Final = (
    (re.compile(r"^streaming_history_audio(_.*)?\.json$", re.IGNORECASE), MemberKind.extended_audio),
    (re.compile(r"^streaming_history_video(_.*)?\.json$", re.IGNORECASE), MemberKind.extended_video),
    (re.compile(r"^endsong(_\d+)?\.json$", re.IGNORECASE), MemberKind.endsong),
    (re.compile(r"^streaminghistory_music(_\d+)?\.json$", re.IGNORECASE), MemberKind.account_music),
    (re.compile(r"^streaminghistory_podcast(_\d+)?\.json$", re.IGNORECASE), MemberKind.account_podcast),
    (re.compile(r"^streaminghistory_audiobook(_\d+)?\.json$", re.IGNORECASE), MemberKind.account_audiobook),
    (re.compile(r"^streaminghistory\d*\.json$", re.IGNORECASE), MemberKind.account_legacy),
)

EXPECTED_NAMES: Final = (
    "Streaming_History_Audio_*.json, Streaming_History_Video_*.json, endsong_*.json, "
    "StreamingHistory_music_*.json, StreamingHistory_podcast_*.json, StreamingHistory_audiobook_*.json or "
    "StreamingHistory<n>.json, or any .json file whose records have `ts` or `endTime`"
)

FormatFamily = Literal["endsong", "extended", "account"]


def basename(member_name: str) -> str:
    return member_name.replace("\\", "/").rsplit("/", 1)[-1]


def is_junk(member_name: str) -> bool:
    """macOS resource forks (`__MACOSX/._endsong_0.json`) and hidden files: never history."""
    return basename(member_name).startswith(".") or "__MACOSX/" in member_name.replace("\\", "/")


def may_be_history(member_name: str) -> bool:
    """Worth a look at its first record: a `.json` file that is not junk (history files may be renamed)."""
    return basename(member_name).lower().endswith(".json") and not is_junk(member_name)


def classify_member(member_name: str) -> MemberKind | None:
    """The kind of a ZIP member by its file name (any folder depth), or None for other files."""
    if is_junk(member_name):
        return None
    name = basename(member_name)
    for pattern, kind in _PATTERNS:
        if pattern.match(name):
            return kind
    return None


def kind_from_keys(keys: Iterable[object], hint: MemberKind | None) -> MemberKind | None:
    """The kind of a member from the keys of its first record; `hint` (the kind by name) when they do not
    tell. A name of the same family keeps its finer kind (Audio/Video, music/podcast)."""
    found = set(keys)
    if "ts" in found and "ms_played" in found:
        return hint if hint is not None and is_extended(hint) else MemberKind.extended_audio
    if "endTime" in found and "msPlayed" in found:
        if hint is not None and not is_extended(hint):
            return hint
        if "podcastName" in found or "episodeName" in found:
            return MemberKind.account_podcast
        if "audiobookName" in found or "chapterName" in found:
            return MemberKind.account_audiobook
        return MemberKind.account_music
    return hint


def is_extended(kind: MemberKind) -> bool:
    return kind in (MemberKind.extended_audio, MemberKind.extended_video, MemberKind.endsong)


def family(kind: MemberKind) -> FormatFamily:
    if kind is MemberKind.endsong:
        return "endsong"
    return "extended" if is_extended(kind) else "account"


def format_detected(kinds: Iterable[MemberKind]) -> str | None:
    """`import_jobs.format_detected` (spec §6.2): `endsong`, `streaming_history` or `mixed`.

    `endsong` when every history file is an `endsong_*`; `streaming_history` when every file is one of the
    `Streaming_History_*` (extended) or every file is account data (`StreamingHistory*`); `mixed` otherwise.
    """
    families = {family(kind) for kind in kinds}
    if not families:
        return None
    if len(families) > 1:
        return "mixed"
    return "endsong" if families == {"endsong"} else "streaming_history"
