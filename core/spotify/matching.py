"""Matching a track known only by name (title, artist, maybe album) to a Spotify track: the normalisation, the
lookup key under which an answer is remembered, the confidence of a candidate, and the verdict over a search's
candidates. The background resolver (ingest/resolve.py) and the playlist tools (serve/tools/playlists) judge
names the same way with these."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Final

from core.spotify.models import Track

RESOLVED_AT: Final = 0.85
AMBIGUOUS_AT: Final = 0.5


def normalize(value: str | None) -> str:
    """Lower-case, accents and bracketed/dash suffixes ("- Remastered 2011", "(feat. X)") removed."""
    if not value:
        return ""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    folded = re.sub(r"\s*[\(\[].*?[\)\]]", "", folded)
    folded = re.sub(r"\s+-\s+.*$", "", folded)
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()


def search_title(value: str) -> str:
    """The title as Spotify's search matches it: without "(feat. …)", "[Live]" or " - 2015 Remaster"."""
    cleaned = re.sub(r"\s*[\(\[].*?[\)\]]", "", value)
    cleaned = re.sub(r"\s+-\s+.*$", "", cleaned).strip()
    return cleaned or value


def lookup_key(track_name: str, artist_name: str | None) -> str:
    """What a lookup depends on: the same normalised title and artist is the same search."""
    return f"{normalize(search_title(track_name))}|{normalize(artist_name)}"


def _similar(left: str, right: str) -> float:
    if not left or not right:
        return 0.0
    if left == right:
        return 1.0
    return SequenceMatcher(None, left, right).ratio()


def confidence(track_name: str, artist_name: str | None, album_name: str | None, candidate: Track) -> float:
    """0..1. The title gates everything (a wrong title by the right artist is no match); artist and album
    then separate the original from covers and namesakes. An unknown artist or album counts half."""
    title = _similar(normalize(track_name), normalize(candidate.name))
    artists = [normalize(artist.name) for artist in candidate.artists or []]
    artist = max((_similar(normalize(artist_name), name) for name in artists), default=0.0) if artist_name else 0.5
    album = (
        _similar(normalize(album_name), normalize(candidate.album.name if candidate.album else None))
        if album_name
        else 0.5
    )
    return round(title * (0.6 + 0.3 * artist + 0.1 * album), 4)


def _quote(value: str) -> str:
    return value.replace('"', " ").strip()


@dataclass(frozen=True, slots=True)
class Name:
    """A track as an account-data export knows it."""

    track_name: str
    artist_name: str | None
    album_name: str | None = None

    @property
    def key(self) -> str:
        return lookup_key(self.track_name, self.artist_name)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # resolved, ambiguous or not_found
    spotify_track_id: str | None
    confidence: float


def search_query(track_name: str, artist_name: str | None) -> str:
    """Spotify's field-filtered search for a name."""
    return f'track:"{_quote(search_title(track_name))}"' + (f' artist:"{_quote(artist_name)}"' if artist_name else "")


def judge_name(name: Name, candidates: list[Track]) -> Verdict:
    """resolved (a clear best match), ambiguous (a likely one, not clear) or not_found."""
    scored = sorted(
        ((confidence(name.track_name, name.artist_name, name.album_name, track), track) for track in candidates),
        key=lambda pair: -pair[0],
    )
    best_score, best = scored[0] if scored else (0.0, None)
    runner_up = scored[1][0] if len(scored) > 1 and scored[1][1].id != (best.id if best else None) else 0.0
    if best is not None and best_score >= RESOLVED_AT and best_score - runner_up >= 0.05:
        return Verdict("resolved", best.id, best_score)
    if best is not None and best_score >= AMBIGUOUS_AT:
        return Verdict("ambiguous", best.id, best_score)
    return Verdict("not_found", None, best_score)
