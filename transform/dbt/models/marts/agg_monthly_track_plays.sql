{#- Per user, local month and track: plays, listening time and the track's rank among that month's tracks
    (1 = most played; ties by listening time, then id, as the tools order top lists). Tracks without a play in
    the month are left out. Read by history.track_history (plays per month, rank over time, eras).
    A table: one aggregate over agg_daily_track_plays. -#}
{{
    config(
        indexes=[
            {'columns': ['user_id', 'track_id', 'month_start'], 'unique': True},
            {'columns': ['user_id', 'month_start', 'rank']},
        ]
    )
}}

with per_month as (
    select
        user_id,
        date_trunc('month', local_date)::date as month_start,
        track_id,
        max(primary_artist_id) as artist_id,
        sum(plays)::bigint as plays,
        sum(ms_played)::bigint as ms_played
    from {{ ref('agg_daily_track_plays') }}
    group by 1, 2, 3
    having sum(plays) > 0
)

select
    user_id,
    month_start,
    track_id,
    artist_id,
    plays,
    ms_played,
    (row_number() over (partition by user_id, month_start order by plays desc, ms_played desc, track_id))::integer
        as rank,
    (count(*) over (partition by user_id, month_start))::integer as tracks
from per_month
