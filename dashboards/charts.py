"""Charts of the dashboards (Altair): one function per chart, data in, chart out, no queries here.

Readable at any span: time series come at the grain the window calls for (`core.marts.windows.grain_for`) with
each bar spanning exactly its day, week or month; ranked bars carry their names on the axis (long names end in
"…" and show whole in the tooltip) and their values at the bar's end, one row of height per bar so no label is
skipped; dates read as people write them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import altair as alt
import polars as pl

from core.marts.listening import HeatmapSummary
from core.marts.windows import Grain, Span

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
GRAIN_WORDS = {Grain.day: "day", Grain.week: "week", Grain.month: "month"}
BAR_ROW_PX = 24
LABEL_LIMIT_PX = 320
# Streamlit fits a chart to its container in both directions unless told otherwise, which squeezes ranked bars
# (and then Vega drops every other name); fit the width only and let the height follow the number of bars.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
NO_DATA = "no data"
COVERAGE_STATES = [NO_DATA, "export", "Spotify API", "export + API", "scrobbles only"]
COVERAGE_COLOURS = ["#e4e6ea", "#6baed6", "#74c476", "#238b45", "#fdae6b"]
SPOTIFY_SOURCES = ["import_zip", "spotify_api"]
SCROBBLE_SOURCES = ["listenbrainz", "lastfm"]


def _day_text(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _bucket_text(start: date, days: int, grain: Grain) -> str:
    """How a bucket reads in a tooltip: "Tue 4 Mar 2025", "week of 3 Mar 2025", "Mar 2025 (12 days)"."""
    if grain is Grain.day:
        return f"{WEEKDAYS[start.weekday()]} {_day_text(start)}"
    if grain is Grain.week:
        text = f"week of {_day_text(start)}"
        return text if days == 7 else f"{text} ({days} days)"
    text = f"{MONTHS[start.month - 1]} {start.year}"
    full = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - start.replace(day=1)
    return text if start.day == 1 and days == full.days else f"{text} ({days} days)"


def with_bucket_text(frame: pl.DataFrame, grain: Grain) -> pl.DataFrame:
    texts = [_bucket_text(start, int(days), grain) for start, days in frame.select("period_start", "days").iter_rows()]
    return frame.with_columns(pl.Series("period", texts, dtype=pl.String))


def _full_days(grain: Grain, today: date) -> pl.Expr:
    """Whether a bucket is whole (a week of 7 days, a whole month) and over (it ends before today): partial
    first and last buckets are drawn lighter, so a window that starts mid-week, or today not over yet, does not
    read as a drop in listening."""
    over = pl.col("period_start") + pl.duration(days=pl.col("days")) <= pl.lit(today)
    if grain is Grain.day:
        return over
    if grain is Grain.week:
        return over & (pl.col("days") == 7)
    start = pl.col("period_start")
    return over & (start.dt.day() == 1) & (pl.col("days") == start.dt.month_end().dt.day())


def timeline(
    frame: pl.DataFrame, measure: str, title: str, grain: Grain, today: date, *, value_format: str = ",.0f"
) -> alt.Chart:
    """Bars per day, week or month (`period_start` to the exclusive `period_end`); the title says the grain."""
    shown = with_bucket_text(frame, grain).with_columns(_full_days(grain, today).alias("whole"))
    per = GRAIN_WORDS[grain]
    chart: alt.Chart = (
        alt.Chart(shown.to_pandas(), title=f"{title} per {per}")
        .mark_bar(stroke="white", strokeWidth=0.5 if grain is not Grain.month else 1, color="#1f77b4")
        .encode(
            x=alt.X("period_start:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False)),
            x2="period_end:T",
            y=alt.Y(f"{measure}:Q", title=f"{title.lower()} per {per}", axis=alt.Axis(format=value_format)),
            y2=alt.datum(0),
            opacity=alt.condition("datum.whole", alt.value(1.0), alt.value(0.4)),
            tooltip=[alt.Tooltip("period:N", title=per), alt.Tooltip(f"{measure}:Q", title=title, format=value_format)],
        )
        .properties(height=240, autosize=FIT_WIDTH)
    )
    return chart


def uniques_timeline(frame: pl.DataFrame, grain: Grain, today: date) -> alt.Chart:
    """Different tracks and artists per bucket; whole buckets only (a 2-day week would read as a collapse)."""
    per = GRAIN_WORDS[grain]
    whole = frame.filter(_full_days(grain, today))
    long = (
        with_bucket_text(whole if whole.height else frame, grain)
        .select(
            "period_start", "period", pl.col("unique_tracks").alias("tracks"), pl.col("unique_artists").alias("artists")
        )
        .unpivot(index=["period_start", "period"], variable_name="what", value_name="count")
    )
    chart: alt.Chart = (
        alt.Chart(long.to_pandas(), title=f"Different tracks and artists played per {per}")
        .mark_line(point=grain is not Grain.day or frame.height <= 120)
        .encode(
            x=alt.X("period_start:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False)),
            y=alt.Y("count:Q", title=f"different per {per}"),
            color=alt.Color("what:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("period:N", title=per), "what:N", alt.Tooltip("count:Q", format=",")],
        )
        .properties(height=220, autosize=FIT_WIDTH)
    )
    return chart


def ranked_bars(
    frame: pl.DataFrame,
    label: str,
    *,
    measure: str = "plays",
    title: str | None = None,
    details: list[alt.Tooltip] | None = None,
    value_format: str = ",.0f",
    color: str = "#1db954",
) -> alt.LayerChart:
    """Horizontal bars in the frame's order, a name on every bar and the value at its end."""
    names = distinct_labels(frame[label].to_list())
    shown = frame.with_columns(pl.Series(label, names, dtype=pl.String))
    tooltip = [alt.Tooltip(f"{label}:N", title=label), alt.Tooltip(f"{measure}:Q", format=value_format)]
    base = alt.Chart(shown.to_pandas(), title=title or "").encode(
        y=alt.Y(
            f"{label}:N",
            sort=names,
            title=None,
            axis=alt.Axis(labelLimit=LABEL_LIMIT_PX, labelFontSize=12),
        ),
        x=alt.X(f"{measure}:Q", title=measure, axis=alt.Axis(format=value_format, tickCount=5)),
        tooltip=tooltip + (details or []),
    )
    bars = base.mark_bar(color=color)
    values = base.mark_text(align="left", baseline="middle", dx=4, fontSize=11).encode(
        text=alt.Text(f"{measure}:Q", format=value_format)
    )
    chart: alt.LayerChart = (bars + values).properties(height=alt.Step(BAR_ROW_PX), autosize=FIT_WIDTH)
    return chart


def distinct_labels(values: list[Any]) -> list[str]:
    """Bar names as shown: missing ones say so, and a repeated name (two tracks called the same) gets a number, so
    that two bars never share one row."""
    seen: dict[str, int] = {}
    labels: list[str] = []
    for value in values:
        name = str(value) if value not in (None, "") else "(unnamed)"
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return labels


def heatmap(summary: HeatmapSummary, timezone: str) -> alt.Chart:
    """Weekday × hour; every cell present (zeros included) so quiet hours read as quiet."""
    cells = pl.DataFrame(
        [
            {"day": WEEKDAYS[weekday], "hour": f"{hour:02d}", "plays": summary.grid[weekday][hour]}
            for weekday in range(7)
            for hour in range(24)
        ]
    )
    chart: alt.Chart = (
        alt.Chart(cells.to_pandas(), title=f"Plays by weekday and hour ({timezone})")
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("day:O", sort=WEEKDAYS, title=None),
            color=alt.Color("plays:Q", scale=alt.Scale(scheme="greens"), title="plays"),
            tooltip=["day:N", alt.Tooltip("hour:O", title="hour"), alt.Tooltip("plays:Q", format=",")],
        )
        .properties(height=260, autosize=FIT_WIDTH)
    )
    return chart


def hour_bars(hour_totals: list[int], title: str = "Plays by hour of day") -> alt.Chart:
    frame = pl.DataFrame({"hour": list(range(24)), "plays": hour_totals})
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title=title)
        .mark_bar(color="#1db954")
        .encode(
            x=alt.X("hour:O", title="hour of day (0 = midnight)", axis=alt.Axis(labelAngle=0, labelOverlap=False)),
            y=alt.Y("plays:Q", title="plays", axis=alt.Axis(format=",.0f")),
            tooltip=[alt.Tooltip("hour:O", title="hour"), alt.Tooltip("plays:Q", format=",")],
        )
        .properties(height=220, autosize=FIT_WIDTH)
    )
    return chart


def weekday_bars(weekday_totals: list[int]) -> alt.Chart:
    frame = pl.DataFrame({"day": WEEKDAYS, "plays": weekday_totals})
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title="Plays by weekday")
        .mark_bar(color="#1db954")
        .encode(
            x=alt.X("day:O", sort=WEEKDAYS, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("plays:Q", title="plays", axis=alt.Axis(format=",.0f")),
            tooltip=["day:N", alt.Tooltip("plays:Q", format=",")],
        )
        .properties(height=220, autosize=FIT_WIDTH)
    )
    return chart


def plays_histogram(frame: pl.DataFrame) -> alt.LayerChart:
    """How many tracks were played how often, tracks on a log scale (a few favourites and thousands of one-offs
    both stay visible)."""
    largest = max((int(count) for count in frame["tracks"].to_list()), default=1)
    ticks = [0] + [10**power for power in range(len(str(largest)) + 1) if 10**power <= largest * 10]
    base = alt.Chart(frame.to_pandas(), title="How often each track was played (tracks on a log scale)").encode(
        x=alt.X("bucket:N", sort=alt.SortField("low"), title="plays of a track", axis=alt.Axis(labelAngle=0)),
        # symlog: logarithmic for the counts, and a bucket of 1 track still has a visible bar.
        y=alt.Y(
            "tracks:Q",
            title="tracks (log scale)",
            scale=alt.Scale(type="symlog"),
            axis=alt.Axis(values=ticks, format=",.0f"),
        ),
        tooltip=[alt.Tooltip("bucket:N", title="plays"), alt.Tooltip("tracks:Q", format=",")],
    )
    bars = base.mark_bar(color="#1db954")
    values = base.mark_text(baseline="bottom", dy=-3, fontSize=11).encode(text=alt.Text("tracks:Q", format=","))
    chart: alt.LayerChart = (bars + values).properties(height=260, autosize=FIT_WIDTH)
    return chart


def coverage_days(rows: pl.DataFrame, span: Span) -> pl.DataFrame:
    """Every day of the window up to today with its state (no data, export, Spotify API, both, or only scrobbles
    from Last.fm / ListenBrainz) and listens (a listen several sources delivered counts for each)."""
    last = min(span.end_date, span.today)
    days = pl.DataFrame({"local_date": pl.date_range(span.start_date, last, "1d", eager=True)})
    per_day = rows.group_by("local_date").agg(
        pl.col("source").filter(pl.col("source").is_in(SPOTIFY_SOURCES)).sort().str.join("+").alias("sources"),
        pl.col("source").is_in(SCROBBLE_SOURCES).any().alias("scrobbled"),
        pl.col("listens").sum().alias("listens"),
    )
    states = {"import_zip": "export", "spotify_api": "Spotify API", "import_zip+spotify_api": "export + API"}
    return (
        days.join(per_day, on="local_date", how="left")
        .with_columns(
            pl.when(pl.col("sources").is_in(list(states)))
            .then(pl.col("sources").replace_strict(states, default=NO_DATA))
            .when(pl.col("scrobbled"))
            .then(pl.lit("scrobbles only"))
            .otherwise(pl.lit(NO_DATA))
            .alias("state"),
            pl.col("listens").fill_null(0),
        )
        .with_columns(
            pl.col("local_date").dt.year().alias("year"),
            pl.col("local_date").dt.weekday().alias("weekday"),  # 1 = Monday
            (
                (pl.col("local_date").dt.ordinal_day() - 1 + pl.col("local_date").dt.truncate("1y").dt.weekday() - 1)
                // 7
            ).alias("week"),
        )
    )


def coverage_calendar(frame: pl.DataFrame) -> alt.FacetChart:
    """One calendar row per year (weeks across, weekdays down), a cell per day: grey where there is no data, so
    gaps show at a glance; the colour says which source has the day."""
    shown = frame.with_columns(
        pl.col("weekday").map_elements(lambda day: WEEKDAYS[day - 1], return_dtype=pl.String).alias("day"),
        pl.col("local_date")
        .map_elements(lambda day: f"{WEEKDAYS[day.weekday()]} {_day_text(day)}", return_dtype=pl.String)
        .alias("date"),
    )
    month_starts = [0, 4, 8, 13, 17, 21, 26, 30, 35, 39, 43, 48]
    label = "['" + "','".join(MONTHS) + "'][indexof(" + str(month_starts) + ", datum.value)]"
    chart: alt.FacetChart = (
        alt.Chart(shown.to_pandas())
        .mark_rect(stroke="white", strokeWidth=1.5)
        .encode(
            x=alt.X(
                "week:O",
                title=None,
                scale=alt.Scale(domain=list(range(54))),
                axis=alt.Axis(values=month_starts, labelExpr=label, labelAngle=0, ticks=False, domain=False),
            ),
            y=alt.Y("day:O", sort=WEEKDAYS, title=None, axis=alt.Axis(ticks=False, domain=False, labelFontSize=9)),
            color=alt.Color(
                "state:N",
                title="data from",
                scale=alt.Scale(domain=COVERAGE_STATES, range=COVERAGE_COLOURS),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[alt.Tooltip("date:N", title="day"), alt.Tooltip("state:N", title="data from"), "listens:Q"],
        )
        .properties(width=alt.Step(13), height=alt.Step(13))
        .facet(row=alt.Row("year:O", title=None, sort="descending", header=alt.Header(labelAngle=0, labelFontSize=13)))
        .properties(title="Days with data, year by year")
    )
    return chart


def share_bars(rows: list[dict[str, Any]], label: str, title: str) -> alt.LayerChart:
    """Horizontal bars of shares (0-1) with their names and percentages."""
    frame = pl.DataFrame(rows).select(label, "share", "plays")
    return ranked_bars(
        frame,
        label,
        measure="share",
        title=title,
        value_format=".0%",
        details=[alt.Tooltip("plays:Q", format=",")],
        color="#6b5bd6",
    )


def cluster_timeline(frame: pl.DataFrame, names: dict[int, str], grain: Grain) -> alt.Chart:
    """Each cluster's share of plays per bucket, stacked to 100 %."""
    shown = with_bucket_text(
        frame.with_columns(
            pl.col("cluster_id").replace_strict(names, default="other", return_dtype=pl.String).alias("cluster"),
            pl.lit(1).alias("days"),
        ),
        grain,
    )
    order = list(names.values())
    chart: alt.Chart = (
        alt.Chart(shown.to_pandas(), title=f"Share of plays per {GRAIN_WORDS[grain]}, by cluster")
        .mark_area(interpolate="monotone")
        .encode(
            x=alt.X("period_start:T", title=None, axis=alt.Axis(labelOverlap=True, grid=False)),
            y=alt.Y("share:Q", stack="normalize", title="share of plays", axis=alt.Axis(format="%")),
            color=alt.Color(
                "cluster:N",
                title=None,
                sort=order,
                scale=alt.Scale(scheme="tableau10"),
                legend=alt.Legend(orient="bottom", columns=1, labelLimit=600),
            ),
            order=alt.Order("cluster_id:Q"),
            tooltip=[
                alt.Tooltip("period_start:T", title="from", format="%-d %b %Y"),
                "cluster:N",
                alt.Tooltip("share:Q", format=".0%"),
                alt.Tooltip("plays:Q", format=","),
            ],
        )
        .properties(height=260, autosize=FIT_WIDTH)
    )
    return chart


def movers(frame: pl.DataFrame, first: str, second: str) -> alt.LayerChart:
    """Artists whose plays changed most, up (green) or down (red), with the change at the bar's end."""
    names = distinct_labels(frame["name"].to_list())
    shown = frame.with_columns(
        pl.Series("name", names, dtype=pl.String),
        pl.when(pl.col("change") >= 0).then(pl.lit("more")).otherwise(pl.lit("fewer")).alias("direction"),
    )
    # Room beyond the longest bars on both sides, so the values written at their ends never reach the names.
    changes = [int(change) for change in frame["change"].to_list()]
    low, high = min(changes, default=0), max(changes, default=0)
    span = max(high - min(low, 0), 1)
    domain = [min(low, 0) - (0.15 * span if low < 0 else 0), max(high, 0) + (0.15 * span if high > 0 else 0)]
    base = alt.Chart(shown.to_pandas(), title=f"Biggest changes: {first} vs {second}").encode(
        y=alt.Y("name:N", sort=names, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT_PX)),
        x=alt.X("change:Q", title="change in plays", scale=alt.Scale(domain=domain, nice=False)),
        tooltip=[
            alt.Tooltip("name:N", title="artist"),
            alt.Tooltip("plays:Q", title=first, format=","),
            alt.Tooltip("compare_plays:Q", title=second, format=","),
            alt.Tooltip("change:Q", format="+,"),
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "direction:N", scale=alt.Scale(domain=["more", "fewer"], range=["#1db954", "#e45756"]), legend=None
        )
    )
    text = alt.Text("change:Q", format="+,")
    ups = base.transform_filter("datum.change >= 0").mark_text(align="left", dx=4, fontSize=11).encode(text=text)
    downs = base.transform_filter("datum.change < 0").mark_text(align="right", dx=-4, fontSize=11).encode(text=text)
    chart: alt.LayerChart = (bars + ups + downs).properties(height=alt.Step(BAR_ROW_PX), autosize=FIT_WIDTH)
    return chart
