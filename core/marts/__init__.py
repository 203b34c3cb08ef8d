"""One definition of windows and figures for every face that reads the marts (docs/warehouse-contract.md).

The tools (`serve/tools`, through SQLAlchemy) and the Streamlit dashboards (`dashboards/`, through DuckDB's
`postgres_query` pushdown) answer the same questions with the same numbers because both take from here:

- `windows`: named windows, the user's zone, inclusive local days and the exclusive end instant, the default and
  equal-span comparisons, the grain of a time series;
- `sql`: a query as PostgreSQL text with `:name` parameters, and its rendering to literals for the pushdown;
- the figures, each a function that returns a `Query` (and, where a figure needs Python after the SQL, the pure
  function that finishes it): `listening` (bounds, totals, series, heatmap, coverage), `rankings` (top tracks
  and artists, uniques, repeat), `compare` (two periods), `artists` (one artist), `recap` (a year in review),
  `clusters` (taste clusters in words and over time).

Pure on purpose: this package imports only the standard library — no database driver, nothing else of ours — so
that the dashboards (which import nothing else of the project) may use it. tests/unit/test_architecture.py
checks that.
"""
