"""Which members of an export are streaming history, and of which format (DESIGN §2).

Detection is by file name first (the names Spotify has used over the years, at any folder depth), then by
keys: each record says whether it is extended (`ts`) or account data (`endTime`), so a renamed or
unexpected file is still read correctly and a file of the wrong shape is refused with its name.
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
    account_legacy = "account_legacy"  # StreamingHistory<n>.json (music and podcasts together)


_PATTERNS: Final = (
    (re.compile(r"^streaming_history_audio(_.*)?\.json$", re.IGNORECASE), MemberKind.extended_audio),
    (re.compile(r"^streaming_history_video(_.*)?\.json$", re.IGNORECASE), MemberKind.extended_video),
    (re.compile(r"^endsong(_\d+)?\.json$", re.IGNORECASE), MemberKind.endsong),
    (re.compile(r"^streaminghistory_music(_\d+)?\.json$", re.IGNORECASE), MemberKind.account_music),
    (re.compile(r"^streaminghistory_podcast(_\d+)?\.json$", re.IGNORECASE), MemberKind.account_podcast),
    (re.compile(r"^streaminghistory\d*\.json$", re.IGNORECASE), MemberKind.account_legacy),
)

EXPECTED_NAMES: Final = (
    "Streaming_History_Audio_*.json, Streaming_History_Video_*.json, endsong_*.json, "
    "StreamingHistory_music_*.json, StreamingHistory_podcast_*.json or StreamingHistory<n>.json"
)

FormatFamily = Literal["endsong", "extended", "account"]


def basename(member_name: str) -> str:
    return member_name.replace("\\", "/").rsplit("/", 1)[-1]


def classify_member(member_name: str) -> MemberKind | None:
    """The kind of a ZIP member by its file name (any folder depth), or None for other files."""
    name = basename(member_name)
    if name.startswith(("._", ".")):  # macOS resource forks (`__MACOSX/._endsong_0.json`) and hidden files
        return None
    if "__MACOSX/" in member_name.replace("\\", "/"):
        return None
    for pattern, kind in _PATTERNS:
        if pattern.match(name):
            return kind
    return None


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
