{#- All time, per user and track (music only): plays, listens and listening time summed over every day of
    agg_daily_track_plays, and the first and last local day with a listen. All-time tool answers read this
    (one row per track) instead of every per-day row.
    primary_artist_id is the largest over the track's days, as a window's per-track totals take it.
    single_primary_artist: every day of the track has that same primary artist (or none has one), so the track's
    totals are also its primary artist's; for the other tracks (an API play and an export record of the same
    track that named its artist differently) per-artist totals come from the per-day rows.
    A track with listens but no play (only skips) has plays = 0.
    A table: one aggregate over agg_yearly_track_plays, which keeps every per-day row's (user, year, track,
    primary artist) with its sums and first and last day, so the result is the same as over the per-day rows
    (the same sums, the same set of primary artists, null or not) from ~15,000 rows instead of ~950,000 at
    1,000,000 plays: rebuilt on every run, it was a scan of every per-day row (about a second per million). -#}
{{ config(indexes=[{'columns': ['user_id', 'track_id'], 'unique': True}]) }}

select
    user_id,
    track_id,
    max(primary_artist_id) as primary_artist_id,
    (
        min(primary_artist_id) is not distinct from max(primary_artist_id)
        and count(primary_artist_id) in (0, count(*))
    ) as single_primary_artist,
    sum(plays)::bigint as plays,
    sum(listens)::bigint as listens,
    sum(ms_played)::bigint as ms_played,
    min(first_local_date) as first_local_date,
    max(last_local_date) as last_local_date,
    max(transformed_at) as transformed_at
from {{ ref('agg_yearly_track_plays') }}
group by user_id, track_id
