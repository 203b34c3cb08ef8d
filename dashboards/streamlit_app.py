"""The analytics app: `streamlit run dashboards/streamlit_app.py` (or `spotify-mcp dashboards`).

Reads only the dbt marts, through DuckDB attached read-only to PostgreSQL (`data.py`). Served to people
only through the admin UI's authenticated proxy (`/analytics/app/`), never exposed on its own.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="spotify-mcp analytics", page_icon="🎧", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon="📈", default=True),
    st.Page("app_pages/top.py", title="Top artists & tracks", icon="🏆"),
    st.Page("app_pages/heatmap.py", title="When you listen", icon="🗓️"),
    st.Page("app_pages/clusters.py", title="Taste clusters", icon="🧭"),
    st.Page("app_pages/repeat.py", title="Repeat behaviour", icon="🔁"),
    st.Page("app_pages/discovery.py", title="Discovery", icon="✨"),
    st.Page("app_pages/coverage.py", title="Coverage", icon="🧩"),
    st.Page("app_pages/explorer.py", title="SQL explorer", icon="🔎"),
]
st.navigation(pages).run()
