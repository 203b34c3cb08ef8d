"""Every tool, defined once. Descriptions are written for a language model choosing a tool."""

from __future__ import annotations

from serve.mcp_apps import ARTIST_TIMELINE, LISTENING_HEATMAP, RECAP_CARD, TOP_CHARTS
from serve.tools import (
    clusters,
    discoveries,
    listening,
    ops,
    periods,
    playlists,
    plays,
    recap,
    spotify,
    streaks,
    summary,
    timeline,
    tops,
)
from serve.tools.models import (
    ClustersArgs,
    CompareArgs,
    Comparison,
    CoverageResult,
    HeatmapResult,
    ImportJobs,
    JobRuns,
    LimitWindowArgs,
    OpsListArgs,
    RepeatRateResult,
    SearchResponse,
    SpotifySearchArgs,
    SpotifyTopArgs,
    SyncStatus,
    TasteClusters,
    TasteSummary,
    TasteSummaryArgs,
    TopArtists,
    TopResponse,
    TopTracks,
    UserArgs,
    WindowArgs,
)
from serve.tools.playlist_models import (
    AddToPlaylistArgs,
    CreatePlaylistArgs,
    ListPlaylistsArgs,
    PlaylistList,
    PlaylistResult,
)
from serve.tools.registry import Registry, Tool

WINDOW_HELP = " Window: days (default 90), start/end dates, or period (this_month, last_month, all_time, ...)."

TOOLS: list[Tool] = [
    Tool(
        name="history.taste_summary",
        title="Taste summary",
        description=(
            "Analyse the user's listening: plays, unique tracks/artists, top artists and tracks, repeat rate, "
            "heatmap, audio profile, taste clusters and data coverage. For 'analyze my last 90 days'." + WINDOW_HELP
        ),
        args_model=TasteSummaryArgs,
        result_model=TasteSummary,
        cacheable=True,
        handler=summary.taste_summary,
    ),
    Tool(
        name="history.top_artists",
        title="Top artists",
        description="The user's most played artists in a window, with play counts and share of plays." + WINDOW_HELP,
        args_model=LimitWindowArgs,
        result_model=TopArtists,
        cacheable=True,
        handler=tops.top_artists,
        app=TOP_CHARTS.uri,
    ),
    Tool(
        name="history.top_tracks",
        title="Top tracks",
        description="The user's most played tracks in a window, with play counts and share of plays." + WINDOW_HELP,
        args_model=LimitWindowArgs,
        result_model=TopTracks,
        cacheable=True,
        handler=tops.top_tracks,
        app=TOP_CHARTS.uri,
    ),
    Tool(
        name="history.listening_heatmap",
        title="Listening heatmap",
        description="When the user listens: plays per weekday and hour (user's time zone), with peaks." + WINDOW_HELP,
        args_model=WindowArgs,
        result_model=HeatmapResult,
        cacheable=True,
        handler=listening.listening_heatmap,
        app=LISTENING_HEATMAP.uri,
    ),
    Tool(
        name="history.repeat_rate",
        title="Repeat rate",
        description=(
            "How much the user replays: repeat rate, share of the top 10 tracks, tracks played once." + WINDOW_HELP
        ),
        args_model=WindowArgs,
        result_model=RepeatRateResult,
        cacheable=True,
        handler=listening.repeat_rate,
    ),
    Tool(
        name="history.coverage",
        title="Data coverage",
        description=(
            "How complete the stored history is for a window: days with data, sources, gaps. Check before "
            "presenting a window as complete." + WINDOW_HELP
        ),
        args_model=WindowArgs,
        result_model=CoverageResult,
        cacheable=True,
        handler=listening.coverage,
    ),
    Tool(
        name="history.compare_periods",
        title="Compare periods",
        description=(
            "Compare two periods: plays, listening time, uniques, per-day figures, top movers, new artists. Default: "
            "this month so far vs the same days of last month. Equal spans by default; `spans_note` says which "
            "spans were compared. Use period/compare_to or start/end and compare_start/compare_end."
        ),
        args_model=CompareArgs,
        result_model=Comparison,
        cacheable=True,
        handler=periods.compare_periods,
    ),
    Tool(
        name="history.taste_clusters",
        title="Taste clusters",
        description=(
            "What the user's taste clusters into: 3-6 labelled groups with share of plays, top artists/tracks and "
            "what sets each apart. Precomputed for days=90, days=365 and period=all_time."
        ),
        args_model=ClustersArgs,
        result_model=TasteClusters,
        cacheable=True,
        handler=clusters.taste_clusters,
    ),
    Tool(
        name="history.plays",
        title="Plays",
        description=(
            "The plays themselves, newest (or oldest) first: what was played on a date, in a range or this morning "
            "(from_hour/to_hour), optionally of one artist, track or album. Pages of up to 200 with a cursor."
            + WINDOW_HELP
        ),
        args_model=plays.PlaysArgs,
        result_model=plays.PlaysPage,
        cacheable=True,
        handler=plays.plays,
    ),
    Tool(
        name="history.artist_history",
        title="Artist history",
        description=(
            "One artist's story: first and last play, plays and minutes per month, rank each month, eras (months in "
            "the top 5), top tracks. For 'when did I first hear X?'. Whole history unless a window is given."
        ),
        args_model=timeline.ArtistHistoryArgs,
        result_model=timeline.ArtistHistory,
        cacheable=True,
        handler=timeline.artist_history,
        app=ARTIST_TIMELINE.uri,
    ),
    Tool(
        name="history.track_history",
        title="Track history",
        description=(
            "One track's story: first and last play, plays per month, rank each month, eras (months in the top 5). "
            "Whole history unless a window is given."
        ),
        args_model=timeline.TrackHistoryArgs,
        result_model=timeline.SubjectHistory,
        cacheable=True,
        handler=timeline.track_history,
        app=ARTIST_TIMELINE.uri,
    ),
    Tool(
        name="history.recap",
        title="Recap",
        description=(
            "A 'Wrapped' for any period: minutes, plays, top artists/tracks/albums, discoveries, busiest day, "
            "longest streak, listening clock, taste mix, and the change from the period before. year (and month), "
            "or a window; default this year."
        ),
        args_model=recap.RecapArgs,
        result_model=recap.Recap,
        cacheable=True,
        handler=recap.recap,
        app=RECAP_CARD.uri,
    ),
    Tool(
        name="history.discoveries",
        title="Discoveries",
        description=(
            "Artists and tracks first heard in a window, 'love at first sight' (many plays in their first week) and "
            "'slow burns' (known long before, most played now). For 'what did I discover this year?'." + WINDOW_HELP
        ),
        args_model=discoveries.DiscoveriesArgs,
        result_model=discoveries.Discoveries,
        cacheable=True,
        handler=discoveries.discoveries,
    ),
    Tool(
        name="history.on_this_day",
        title="On this day",
        description=(
            "What was played on this date (or a given one) in each earlier year: plays, minutes, top tracks. For the "
            "plays of one day itself use history.plays."
        ),
        args_model=discoveries.OnThisDayArgs,
        result_model=discoveries.OnThisDay,
        cacheable=True,
        handler=discoveries.on_this_day,
    ),
    Tool(
        name="history.streaks",
        title="Streaks",
        description=(
            "Runs of consecutive days with a play: longest and current, overall, per artist and per track, and what "
            "is on repeat now. Whole history unless a window is given."
        ),
        args_model=streaks.StreaksArgs,
        result_model=streaks.Streaks,
        cacheable=True,
        handler=streaks.streaks,
    ),
    Tool(
        name="history.sessions",
        title="Listening sessions",
        description=(
            "Listening sessions (a pause over 30 minutes starts a new one; gap_minutes to change): count, longest, "
            "typical length by weekday and hour." + WINDOW_HELP
        ),
        args_model=streaks.SessionsArgs,
        result_model=streaks.Sessions,
        cacheable=True,
        handler=streaks.sessions,
    ),
    Tool(
        name="spotify.get_top",
        title="Spotify top items",
        description=(
            "Spotify's own ranking of the user's top artists or tracks (live call) for short_term (~4 weeks), "
            "medium_term (~6 months) or long_term (~1 year). Needs a connected Spotify account."
        ),
        args_model=SpotifyTopArgs,
        result_model=TopResponse,
        handler=spotify.get_top,
        idempotent=True,
        open_world=True,
    ),
    Tool(
        name="spotify.search",
        title="Search Spotify",
        description=(
            "Search Spotify's catalogue for tracks, artists, albums or playlists (live call). Needs a connected "
            "Spotify account."
        ),
        args_model=SpotifySearchArgs,
        result_model=SearchResponse,
        handler=spotify.search,
        open_world=True,
    ),
    Tool(
        name="spotify.create_playlist",
        title="Create a playlist",
        description=(
            "Make a playlist in the user's Spotify account from track ids or a history source. status=partial: "
            "call again with the same idempotency_key (never duplicates)."
        ),
        args_model=CreatePlaylistArgs,
        result_model=PlaylistResult,
        handler=playlists.create_playlist,
        read_only=False,
        destructive=False,
        idempotent=True,
        open_world=True,
    ),
    Tool(
        name="spotify.add_to_playlist",
        title="Add to a playlist",
        description=("Append tracks to one of the user's own playlists; the same idempotency_key never adds twice."),
        args_model=AddToPlaylistArgs,
        result_model=PlaylistResult,
        handler=playlists.add_to_playlist,
        read_only=False,
        destructive=False,
        idempotent=True,
        open_world=True,
    ),
    Tool(
        name="spotify.list_playlists",
        title="Your playlists",
        description="The user's own Spotify playlists (live call).",
        args_model=ListPlaylistsArgs,
        result_model=PlaylistList,
        handler=playlists.list_playlists,
        open_world=True,
    ),
    Tool(
        name="ops.sync_status",
        title="Sync status",
        description=(
            "Whether collection works for the user: connection, last and next poll (and why then), plays gained "
            "per poll, errors, last warehouse rebuild, a Spotify quota stop. Use when numbers look stale."
        ),
        args_model=UserArgs,
        result_model=SyncStatus,
        handler=ops.sync_status,
    ),
    Tool(
        name="ops.latest_job_runs",
        title="Latest job runs",
        description=(
            "The user's latest background jobs (imports, syncs, polls, transforms), newest first. Transforms rebuild "
            "the warehouse for every user: with a user token their numbers and error details are left out."
        ),
        args_model=OpsListArgs,
        result_model=JobRuns,
        handler=ops.latest_job_runs,
    ),
    Tool(
        name="ops.latest_import_jobs",
        title="Latest imports",
        description="The user's latest Spotify export (ZIP) imports with status and record counts, newest first.",
        args_model=OpsListArgs,
        result_model=ImportJobs,
        handler=ops.latest_import_jobs,
    ),
]

REGISTRY = Registry(TOOLS)
