"""SQL explorer: read-only SELECTs over the marts with DuckDB, downloadable as CSV or Parquet."""

from __future__ import annotations

import streamlit as st

from dashboards import data

st.title("SQL explorer")
st.caption(
    "DuckDB SQL over the dbt marts, attached read-only from PostgreSQL as `pg.marts.<table>`. "
    f"One SELECT at a time; at most {data.EXPLORER_ROW_LIMIT:,} rows are shown and downloaded."
)
try:
    tables = data.available_marts()
except Exception as error:
    st.error(f"Cannot reach the database: {str(error).splitlines()[0]}")
    tables = []
if tables:
    st.caption("Tables: " + ", ".join(f"`pg.marts.{name}`" for name in tables))
else:
    st.info("No marts yet: the transform has not run. Queries will fail until it has.")
default = (
    "SELECT local_weekday, count(*) AS plays\nFROM pg.marts.fct_plays\nWHERE counts_as_play\nGROUP BY 1\nORDER BY 1"
)
sql = st.text_area("Query", value=default, height=180, key="explorer_sql")
if st.button("Run", type="primary", key="explorer_run"):
    try:
        frame, cut = data.run_explorer(sql)
    except data.ExplorerError as error:
        st.error(str(error))
    else:
        st.success(f"{frame.height:,} rows" + (" (cut at the limit)" if cut else ""))
        st.dataframe(frame, width="stretch")
        left, right = st.columns(2)
        left.download_button("Download CSV", frame.write_csv().encode(), "query.csv", "text/csv", key="dl_csv")
        right.download_button(
            "Download Parquet",
            data.to_parquet_bytes(frame),
            "query.parquet",
            "application/vnd.apache.parquet",
            key="dl_parquet",
        )
