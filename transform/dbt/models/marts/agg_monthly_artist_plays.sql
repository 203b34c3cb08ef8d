{#- Per user, local month and artist (each day's primary artist, as the top-artist lists count them): plays,
    listening time and the artist's rank among that month's artists (1 = most played; ties by listening time,
    then id, as the tools order top lists). Artists without a play in the month are left out.
    Read by history.artist_history (plays per month, rank over time, eras) without touching per-day rows.
    Incremental: a run recomputes the (user, month)s of its changed plays (macros/story_changes.sql). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_story_rows('month') }}"],
        indexes=[
            {'columns': ['user_id', 'artist_id', 'month_start'], 'unique': True},
            {'columns': ['user_id', 'month_start', 'rank']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

with per_month as (
    select
        user_id,
        date_trunc('month', local_date)::date as month_start,
        primary_artist_id as artist_id,
        sum(plays)::bigint as plays,
        sum(ms_played)::bigint as ms_played,
        max(transformed_at) as transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    where primary_artist_id is not null
    {%- if is_incremental() %}
        and (user_id, local_date) in (
            select changed.user_id, month_days.local_date::date
            from ({{ story_changed_months_sql() }}) as changed
            cross join generate_series(
                changed.month_start, changed.month_start + interval '1 month' - interval '1 day', interval '1 day'
            ) as month_days (local_date)
        )
    {%- endif %}
    group by 1, 2, 3
    having sum(plays) > 0
)

select
    user_id,
    month_start,
    artist_id,
    plays,
    ms_played,
    (row_number() over (partition by user_id, month_start order by plays desc, ms_played desc, artist_id))::integer
        as rank,
    (count(*) over (partition by user_id, month_start))::integer as artists,
    transformed_at
from per_month
