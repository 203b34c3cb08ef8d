"""The analytics app: `streamlit run dashboards/streamlit_app.py` (or `spotify-mcp dashboards`).

Reads only the dbt marts, through DuckDB attached read-only to PostgreSQL (`data.py`). Served to people
only through the admin UI's authenticated proxy (`/analytics/app/`), never exposed on its own.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="spotify-mcp analytics", page_icon=":material/headphones:", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/insights:", default=True),
    st.Page("app_pages/top.py", title="Top artists & tracks", icon=":material/leaderboard:"),
    st.Page("app_pages/artist.py", title="Artist", icon=":material/person:"),
    st.Page("app_pages/year.py", title="Year in review", icon=":material/celebration:"),
    st.Page("app_pages/compare.py", title="Compare periods", icon=":material/compare_arrows:"),
    st.Page("app_pages/heatmap.py", title="When you listen", icon=":material/calendar_view_week:"),
    st.Page("app_pages/clusters.py", title="Taste clusters", icon=":material/hub:"),
    st.Page("app_pages/repeat.py", title="Repeat behaviour", icon=":material/repeat:"),
    st.Page("app_pages/discovery.py", title="Discovery", icon=":material/explore:"),
    st.Page("app_pages/coverage.py", title="Coverage", icon=":material/event_available:"),
    st.Page("app_pages/explorer.py", title="SQL explorer", icon=":material/database:"),
]
st.navigation(pages).run()
