"""The shared definitions of `core.marts` without a database: windows, equal spans, grains, the literal rendering of
a query for the dashboards' pushdown, and the pure finishing functions both faces use."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.marts import clusters, compare, listening, rankings, recap
from core.marts.sql import Query, literal, render
from core.marts.windows import (
    Bounds,
    Grain,
    Period,
    Span,
    covers_all,
    equal_spans,
    grain_for,
    make_span,
    period_span,
    preceding,
    year_span,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOV_5 = date(2026, 11, 5)


def span(period: Period, today: date = NOV_5, first: date | None = date(2019, 3, 5)) -> Span:
    return period_span(period, BERLIN, today, first)


def test_render_writes_typed_literals_and_leaves_casts_alone() -> None:
    user = uuid.UUID("12345678-1234-5678-1234-567812345678")
    query = Query(
        "SELECT x::bigint, :u, CAST(:ids AS text[]) FROM t WHERE d BETWEEN :s AND :e AND n = :name LIMIT :limit",
        {"u": user, "ids": ["a", "b'c"], "s": date(2026, 1, 1), "e": date(2026, 1, 31), "name": "O'Neil", "limit": 5},
    )
    assert render(query) == (
        "SELECT x::bigint, '12345678-1234-5678-1234-567812345678'::uuid, CAST(ARRAY['a', 'b''c']::text[] AS text[]) "
        "FROM t WHERE d BETWEEN DATE '2026-01-01' AND DATE '2026-01-31' AND n = 'O''Neil' LIMIT 5"
    )
    with pytest.raises(KeyError, match=":missing"):
        render(Query("SELECT :missing", {}))


@pytest.mark.parametrize("bad", [True, 1.5, b"x", datetime(2026, 1, 1), [1, 2], {"a": 1}])
def test_literal_refuses_what_the_figures_never_pass(bad: object) -> None:
    with pytest.raises(TypeError):
        literal(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


def test_windows_end_today_in_the_user_zone_not_on_the_last_day_with_data() -> None:
    last_30 = span(Period.last_30_days)
    assert (last_30.start_date, last_30.end_date, last_30.days) == (date(2026, 10, 7), NOV_5, 30)
    assert last_30.start == datetime(2026, 10, 7, tzinfo=BERLIN)
    assert last_30.end == datetime(2026, 11, 6, tzinfo=BERLIN)  # exclusive
    assert last_30.ongoing and last_30.title == "Last 30 days"
    old_history = Bounds(date(2015, 1, 1), date(2020, 6, 30), None)
    assert not covers_all(last_30, old_history)
    assert covers_all(span(Period.all_time, first=date(2015, 1, 1)), old_history)


def test_equal_spans_cut_the_longer_when_the_shorter_is_under_way() -> None:
    # Issue 15.9: this month on the 5th against last month compared 5 days with 31.
    first, second = equal_spans(span(Period.this_month), span(Period.last_month))
    assert (first.start_date, first.end_date) == (date(2026, 11, 1), NOV_5)
    assert (second.start_date, second.end_date, second.label) == (
        date(2026, 10, 1),
        date(2026, 10, 5),
        "last_month (first 5 days)",
    )
    # Symmetric: the longer one is cut whichever side it is on.
    first, second = equal_spans(span(Period.last_month), span(Period.this_month))
    assert (first.end_date, second.end_date) == (date(2026, 10, 5), NOV_5)
    # This year to date against last year: the same days.
    first, second = equal_spans(span(Period.this_year), span(Period.last_year))
    assert (second.start_date, second.end_date) == (date(2025, 1, 1), date(2025, 11, 5))
    # Whole periods stay whole: the shorter is over (February vs March on 31 March; all time vs last month).
    march_31 = date(2026, 3, 31)
    whole = (span(Period.this_month, march_31), span(Period.last_month, march_31))
    assert equal_spans(*whole) == whole
    whole = (span(Period.all_time), span(Period.last_month))
    assert equal_spans(*whole) == whole
    same = (span(Period.last_7_days), preceding(None, span(Period.last_7_days)))
    assert equal_spans(*same) == same


def test_spans_note_says_which_spans_were_compared() -> None:
    first, second = equal_spans(span(Period.this_month), span(Period.last_month))
    note = compare.spans_note(first, second, cut=True)
    assert "this_month (1 Nov 2026 – 5 Nov 2026, 5 days)" in note
    assert "last_month (first 5 days) (1 Oct 2026 – 5 Oct 2026, 5 days)" in note
    assert "equal_spans=false" in note
    people = compare.spans_note(first, second, cut=True, for_people=True)
    assert people.startswith("Compared this month (1 Nov 2026 – 5 Nov 2026, 5 days) with 1 Oct 2026 – 5 Oct 2026")
    assert "_" not in people
    uneven = compare.spans_note(span(Period.all_time), span(Period.last_month), cut=False)
    assert "per-day" in uneven


@pytest.mark.parametrize(
    ("days", "grain"),
    [(1, Grain.day), (30, Grain.day), (92, Grain.day), (93, Grain.week), (731, Grain.week), (732, Grain.month)],
)
def test_time_series_grain_follows_the_span(days: int, grain: Grain) -> None:
    window = make_span("x", date.fromordinal(NOV_5.toordinal() - days + 1), NOV_5, BERLIN, NOV_5)
    assert window.days == days and grain_for(window) is grain


def test_years_and_the_span_a_recap_compares_with() -> None:
    this_year = year_span(2026, BERLIN, NOV_5)
    assert (this_year.start_date, this_year.end_date, this_year.ongoing) == (date(2026, 1, 1), NOV_5, True)
    assert (recap.previous_span(this_year).start_date, recap.previous_span(this_year).end_date) == (
        date(2025, 1, 1),
        date(2025, 11, 5),
    )
    full = year_span(2024, BERLIN, NOV_5)
    assert (full.end_date, recap.previous_span(full).label) == (date(2024, 12, 31), "2023")
    rolling = make_span("r", date(2026, 10, 1), date(2026, 10, 10), BERLIN, NOV_5)
    assert (recap.previous_span(rolling).start_date, recap.previous_span(rolling).end_date) == (
        date(2026, 9, 21),
        date(2026, 9, 30),
    )


def test_coverage_summary_finds_gaps_and_says_whether_complete() -> None:
    window = make_span("w", date(2026, 10, 1), date(2026, 10, 31), BERLIN, NOV_5)
    rows = [(date(2026, 10, day), "import_zip", 3) for day in range(1, 32) if not 10 <= day <= 19]
    rows.append((date(2026, 10, 5), "spotify_api", 1))
    found = listening.summarize_coverage(rows, window, date(2026, 1, 1))
    assert (found.days_with_data, found.days_elapsed, found.complete) == (21, 31, False)
    assert found.largest_gaps[0] == listening.Gap(date(2026, 10, 10), date(2026, 10, 19), 10)
    assert [(item.source, item.days_with_data, item.listens) for item in found.sources] == [
        ("import_zip", 21, 63),
        ("spotify_api", 1, 1),
    ]
    assert "Longest gap: 10 days" in found.note and "partial" in found.note


def test_heatmap_summary_and_repeat_figures() -> None:
    found = listening.summarize_heatmap([(1, 8, 3), (5, 22, 10), (5, 8, 1)])
    assert (found.plays, found.peak_weekday, found.peak_hour) == (14, "Friday", 22)
    assert found.grid[4][22] == 10 and found.hour_totals[8] == 4
    figures = rankings.repeat_figures(10, 4, 2, 5, top10_plays=10)
    assert (figures.repeat_rate, figures.top10_share) == (0.6, 1.0)
    assert rankings.repeat_figures(0, 0, 0, 0, top10_plays=0).repeat_rate == 0.0


def test_movers_and_new_artist_candidates() -> None:
    now = {"a": (10, 1000), "b": (3, 300), "c": (7, 700)}
    before = {"a": (2, 200), "b": (9, 900), "d": (4, 400)}
    moves = compare.movers(now, before, 3)
    assert [(move.artist_id, move.change) for move in moves] == [("a", 8), ("c", 7), ("b", -6)]
    assert (moves[0].rank, moves[0].compare_rank) == (1, 3)
    assert compare.new_artist_candidates(now) == ["a", "c", "b"]
    assert compare.pct(5, 30) == -83.3 and compare.pct(5, 0) is None


def test_clusters_in_words() -> None:
    top = [{"name": "Khruangbin"}, {"name": "Bonobo"}, {"name": "Nujabes"}, {"name": "Tom Misch"}]
    assert clusters.cluster_name(top) == "Khruangbin, Bonobo & Nujabes"
    assert clusters.cluster_name([]) == "Unnamed group"
    assert "clearly distinct" in clusters.describe_silhouette(0.61)
    assert "overlapping" in clusters.describe_silhouette(0.05)
    assert clusters.describe_distinguishing({"hour_profile": "late night", "weekday": "weekend"}) == (
        "late night, weekend"
    )


def test_whole_years_of_a_window_read_from_the_yearly_mart() -> None:
    def years(start: date, end: date, last: date | None) -> tuple[date, date] | None:
        found = rankings.whole_years(make_span("w", start, end, BERLIN, NOV_5), last)
        return None if found is None else (found.first, found.last)

    # This year so far is the whole year when nothing lies after today; not when later days hold data.
    assert years(date(2026, 1, 1), NOV_5, NOV_5) == (date(2026, 1, 1), date(2026, 1, 1))
    this_year = rankings.whole_years(make_span("w", date(2026, 1, 1), NOV_5, BERLIN, NOV_5), NOV_5)
    assert this_year is not None and (this_year.head, this_year.tail) == (False, False)
    assert "agg_daily_track_plays" not in this_year.tracks_sql()  # the yearly rows alone: estimable by the planner
    assert years(date(2026, 1, 1), NOV_5, date(2026, 12, 1)) is None
    assert years(date(2026, 1, 1), NOV_5, None) is None
    # 365 days: the year in progress, the days of the year before from the per-day rows.
    assert years(date(2025, 11, 6), NOV_5, NOV_5) == (date(2026, 1, 1), date(2026, 1, 1))
    # Whole years in the middle of a range; a range inside one year has none.
    assert years(date(2022, 3, 1), date(2025, 12, 31), NOV_5) == (date(2023, 1, 1), date(2025, 1, 1))
    assert years(date(2024, 2, 1), date(2024, 11, 30), NOV_5) is None
    found = rankings.whole_years(make_span("w", date(2022, 3, 1), date(2025, 6, 30), BERLIN, NOV_5), NOV_5)
    assert found is not None and (found.head, found.tail) == (True, True)
    assert found.params() == {
        "y0": date(2023, 1, 1),
        "y1": date(2024, 1, 1),
        "head_end": date(2022, 12, 31),
        "tail_start": date(2025, 1, 1),
    }
