"""Two periods side by side: per-artist plays of each, the artists that moved most, the artists new in the
first period, and a sentence saying exactly which spans were compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from core.marts.rankings import ARTIST_NAMES, artist_totals
from core.marts.sql import Query
from core.marts.windows import Span, date_range_text

# New artists are looked for among the period's most played artists (an EXISTS probe each).
NEW_ARTIST_CANDIDATES = 200


def artist_plays(user_id: UUID, span: Span, *, all_time: bool) -> Query:
    """artist_id, plays, ms of every artist with a play in the window."""
    return Query(artist_totals(all_time), {"u": user_id, "s": span.start_date, "e": span.end_date})


def played_before(user_id: UUID, artist_ids: list[str], before: date) -> Query:
    """artist_id of those artists with a counted play before the local day `before` (dbt indexes the aggregate
    by `(user_id, primary_artist_id)`)."""
    return Query(
        """
        SELECT a.artist_id FROM unnest(CAST(:ids AS text[])) AS a(artist_id)
        WHERE EXISTS (SELECT 1 FROM marts.agg_daily_track_plays t
                      WHERE t.user_id = :u AND t.primary_artist_id = a.artist_id
                        AND t.local_date < :before AND t.plays > 0)
        """,
        {"u": user_id, "ids": artist_ids, "before": before},
    )


def artist_names(user_id: UUID, artist_ids: list[str]) -> Query:
    """artist_id, name of each id (the dimension's name, else the one on the user's plays)."""
    source = "(SELECT a.artist_id, 0 AS plays, 0 AS ms FROM unnest(CAST(:ids AS text[])) AS a(artist_id))"
    return Query(ARTIST_NAMES.format(source=source), {"u": user_id, "ids": artist_ids})


type ArtistPlays = dict[str, tuple[int, int]]  # artist id -> (plays, ms_played)


def ranks(plays: ArtistPlays) -> dict[str, int]:
    ordered = sorted(plays.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return {artist: rank for rank, (artist, _) in enumerate(ordered, start=1)}


def pct(new: float, old: float) -> float | None:
    """Change in percent (one decimal); None when there is nothing to compare with."""
    return round((new - old) / old * 100, 1) if old else None


def per_day(value: float, span: Span) -> float:
    """A figure per elapsed day of the window (so windows of different lengths compare)."""
    return round(value / span.days_elapsed, 1) if span.days_elapsed else 0.0


@dataclass(frozen=True, slots=True)
class Move:
    artist_id: str
    plays: int
    compare_plays: int
    change: int
    rank: int | None
    compare_rank: int | None


def movers(plays_a: ArtistPlays, plays_b: ArtistPlays, limit: int) -> list[Move]:
    """The artists whose plays changed most between the periods, up or down (ties: more plays now, then id)."""
    ranks_a, ranks_b = ranks(plays_a), ranks(plays_b)

    def plays(found: ArtistPlays, artist: str) -> int:
        return found.get(artist, (0, 0))[0]

    changed = sorted(
        set(plays_a) | set(plays_b),
        key=lambda artist: (-abs(plays(plays_a, artist) - plays(plays_b, artist)), -plays(plays_a, artist), artist),
    )[:limit]
    return [
        Move(
            artist_id=artist,
            plays=plays(plays_a, artist),
            compare_plays=plays(plays_b, artist),
            change=plays(plays_a, artist) - plays(plays_b, artist),
            rank=ranks_a.get(artist),
            compare_rank=ranks_b.get(artist),
        )
        for artist in changed
    ]


def new_artist_candidates(plays_a: ArtistPlays) -> list[str]:
    """The period's most played artists, to be checked for plays before it (`played_before`)."""
    return [artist for artist, _ in sorted(plays_a.items(), key=lambda item: (-item[1][0], item[0]))][
        :NEW_ARTIST_CANDIDATES
    ]


def _describe(span: Span, *, for_people: bool) -> str:
    days = "1 day" if span.days == 1 else f"{span.days} days"
    dates = date_range_text(span.start_date, span.end_date)
    if for_people:
        return f"{dates} ({days})" if span.title == dates else f"{span.title.lower()} ({dates}, {days})"
    return f"{span.label} ({dates}, {days})"


def spans_note(first: Span, second: Span, *, cut: bool, for_people: bool = False) -> str:
    """Which spans were compared: with the windows' labels for an assistant (who can ask again with them), or in
    plain words for a page (`for_people`)."""
    text = f"Compared {_describe(first, for_people=for_people)} with {_describe(second, for_people=for_people)}."
    if cut:
        text += " The longer period was cut to its first days so both spans have the same length"
        text += "." if for_people else "; ask with equal_spans=false to compare the whole periods."
    elif first.days != second.days:
        text += " The spans differ in length: compare the per-day figures."
    return text
