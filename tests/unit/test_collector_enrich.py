"""Matching `local:` export tracks to Spotify search results: normalisation and confidence."""

from __future__ import annotations

from core.spotify.models import Track
from ingest.resolve import AMBIGUOUS_AT, RESOLVED_AT, confidence, normalize, search_title


def _track(name: str, artist: str, album: str = "Album") -> Track:
    return Track.model_validate({"id": "x1", "name": name, "artists": [{"name": artist}], "album": {"name": album}})


def test_normalize_drops_accents_brackets_and_suffixes() -> None:
    assert normalize("Beyoncé – Halo (Live) [Remix]") == "beyonce halo"
    assert normalize("Blue Monday - 2015 Remaster") == "blue monday"
    assert normalize(None) == "" and normalize("") == ""


def test_search_title_keeps_case_but_drops_decorations() -> None:
    assert search_title("Blue Monday - 2015 Remaster") == "Blue Monday"
    assert search_title("Song (feat. Someone)") == "Song"
    assert search_title("(Intro)") == "(Intro)"  # never empty


def test_confidence_orders_candidates_sensibly() -> None:
    exact = confidence("Blue Monday", "New Order", "Power", _track("Blue Monday - Remastered", "New Order", "Power"))
    cover = confidence("Blue Monday", "New Order", "Power", _track("Blue Monday", "Orkestra Obsolete", "Covers"))
    other = confidence("Blue Monday", "New Order", "Power", _track("Ceremony", "New Order", "Substance"))
    assert exact >= RESOLVED_AT > cover >= AMBIGUOUS_AT > other
    assert 0.0 <= other <= exact <= 1.0
    unknown_album = confidence("Halo", "Beyoncé", None, _track("Halo", "Beyonce", "I Am"))
    assert unknown_album >= RESOLVED_AT
