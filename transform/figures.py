"""The warehouse in a few figures (for the `transform` command's summary): users, plays, the span they cover,
taste clusters. Read from the marts the transform just built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from core.dburl import libpq_url


@dataclass(frozen=True, slots=True)
class WarehouseFigures:
    users: int
    plays: int  # listens that count as plays (the 30-second rule)
    listens: int  # every listen, skips included
    first_day: date | None
    last_day: date | None
    clusters: int


def warehouse_figures(database_url: str) -> WarehouseFigures:
    with psycopg.connect(libpq_url(database_url), application_name="transform figures") as connection:
        row = connection.execute(
            "select (select count(*) from marts.dim_users), count(*) filter (where counts_as_play), count(*), "
            "min(local_date), max(local_date) from marts.fct_plays"
        ).fetchone()
        assert row is not None
        built = connection.execute("select to_regclass('marts.fct_taste_clusters') is not null").fetchone()
        clusters = 0
        if built is not None and built[0]:
            found = connection.execute("select count(*) from marts.fct_taste_clusters").fetchone()
            clusters = int(found[0]) if found else 0
    return WarehouseFigures(int(row[0]), int(row[1]), int(row[2]), row[3], row[4], clusters)
