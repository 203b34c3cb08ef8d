"""Charts of the dashboards (Altair): one function per chart, data in, chart out, no queries here."""

from __future__ import annotations

import altair as alt
import polars as pl

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def daily_series(frame: pl.DataFrame, measure: str, title: str) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title=title)
        .mark_area(opacity=0.7, interpolate="step-after")
        .encode(
            x=alt.X("local_date:T", title=None),
            y=alt.Y(f"{measure}:Q", title=title),
            tooltip=[alt.Tooltip("local_date:T", title="day"), alt.Tooltip(f"{measure}:Q", format=",.1f")],
        )
        .properties(height=220)
    )
    return chart


def weekly_uniques(frame: pl.DataFrame) -> alt.Chart:
    weekly = (
        frame.with_columns(pl.col("local_date").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(
            pl.col("unique_tracks").max().alias("tracks (max per day)"),
            pl.col("unique_artists").max().alias("artists (max per day)"),
        )
        .sort("week")
        .unpivot(index="week", variable_name="kind", value_name="count")
    )
    chart: alt.Chart = (
        alt.Chart(weekly.to_pandas(), title="Unique tracks and artists per day (weekly peak)")
        .mark_line(point=True)
        .encode(x=alt.X("week:T", title=None), y=alt.Y("count:Q", title=None), color=alt.Color("kind:N", title=None))
        .properties(height=220)
    )
    return chart


def heatmap(frame: pl.DataFrame, timezone: str) -> alt.Chart:
    """Weekday × hour; every cell present (zeros filled) so gaps read as quiet hours."""
    grid = pl.DataFrame({"weekday": list(range(1, 8))}).join(pl.DataFrame({"hour": list(range(24))}), how="cross")
    full = (
        grid.join(frame.select("weekday", "hour", "plays"), on=["weekday", "hour"], how="left")
        .with_columns(pl.col("plays").fill_null(0))
        .with_columns(
            pl.col("weekday").map_elements(lambda day: WEEKDAYS[day - 1], return_dtype=pl.String).alias("day")
        )
    )
    chart: alt.Chart = (
        alt.Chart(full.to_pandas(), title=f"Plays by weekday and hour ({timezone})")
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of day"),
            y=alt.Y("day:O", sort=WEEKDAYS, title=None),
            color=alt.Color("plays:Q", scale=alt.Scale(scheme="greens"), title="plays"),
            tooltip=["day:N", "hour:O", alt.Tooltip("plays:Q", format=",")],
        )
        .properties(height=260)
    )
    return chart


def ranked_bars(frame: pl.DataFrame, label: str, measure: str = "plays") -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(f"{measure}:Q", title=measure),
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            tooltip=[f"{label}:N", alt.Tooltip(f"{measure}:Q", format=",")],
        )
        .properties(height=max(200, 22 * frame.height))
    )
    return chart


def monthly_bars(frame: pl.DataFrame, measure: str, title: str) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title=title)
        .mark_bar()
        .encode(
            x=alt.X("month:T", timeUnit="yearmonth", title=None),
            y=alt.Y(f"{measure}:Q", title=None),
            tooltip=["month:T", f"{measure}:Q"],
        )
        .properties(height=240)
    )
    return chart


def buckets(frame: pl.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title="How often each track was played")
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", sort=alt.SortField("sort_key"), title="plays per track"),
            y=alt.Y("tracks:Q", title="tracks"),
            tooltip=["bucket:N", "tracks:Q"],
        )
        .properties(height=240)
    )
    return chart


def coverage_calendar(frame: pl.DataFrame) -> alt.Chart:
    """A calendar (week columns × weekday rows) coloured by which sources have data that day."""
    calendar = frame.with_columns(
        pl.col("local_date").dt.truncate("1w").alias("week"),
        pl.col("local_date")
        .dt.weekday()
        .map_elements(lambda day: WEEKDAYS[day - 1], return_dtype=pl.String)
        .alias("day"),
    )
    chart: alt.Chart = (
        alt.Chart(calendar.to_pandas(), title="Days with data, by source")
        .mark_rect()
        .encode(
            x=alt.X("week:T", title=None),
            y=alt.Y("day:O", sort=WEEKDAYS, title=None),
            color=alt.Color(
                "sources:N",
                title="source",
                scale=alt.Scale(
                    domain=["import_zip", "spotify_api", "import_zip+spotify_api"],
                    range=["#6baed6", "#74c476", "#31a354"],
                ),
            ),
            tooltip=["local_date:T", "sources:N", "listens:Q"],
        )
        .properties(height=200)
    )
    return chart


def cluster_shares(frame: pl.DataFrame) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(frame.to_pandas(), title="Share of plays per taste cluster")
        .mark_bar()
        .encode(
            x=alt.X("share_of_plays:Q", axis=alt.Axis(format="%"), title=None),
            y=alt.Y("label:N", sort="-x", title=None),
            tooltip=["label:N", alt.Tooltip("share_of_plays:Q", format=".0%"), "plays:Q"],
        )
        .properties(height=max(160, 36 * frame.height))
    )
    return chart
