{#- Runs of consecutive local days with a play: per user, overall (subject_kind 'all', subject_id null), per
    artist (each day's primary artist) and per track. Every overall run is kept; artist and track runs of at least
    2 days. A run ending on the user's last day with data may still be going on.
    Read by history.streaks (longest: index on days; current: index on end_date) and history.recap.
    Gaps-and-islands over the daily aggregates, incremental: a run recomputes the users of its changed plays
    (macros/story_changes.sql). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_story_rows('user') }}"],
        indexes=[
            {'columns': ['user_id', 'subject_kind', 'days']},
            {'columns': ['user_id', 'subject_kind', 'end_date']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

with daily_tracks as (
    select * from {{ ref('agg_daily_track_plays') }}
    where plays > 0
    {%- if is_incremental() %}
        and user_id in ({{ story_changed_users_sql() }})
    {%- endif %}
),

days as (
    select user_id, 'all'::text as subject_kind, null::text as subject_id, local_date, transformed_at
    from {{ ref('agg_daily_listening') }}
    where content_kind = 'track' and plays > 0
    {%- if is_incremental() %}
        and user_id in ({{ story_changed_users_sql() }})
    {%- endif %}
    union all
    select user_id, 'artist'::text, primary_artist_id, local_date, max(transformed_at)
    from daily_tracks
    where primary_artist_id is not null
    group by user_id, primary_artist_id, local_date
    union all
    select user_id, 'track'::text, track_id, local_date, transformed_at
    from daily_tracks
),

numbered as (
    select
        user_id, subject_kind, subject_id, local_date,
        local_date - (row_number() over (partition by user_id, subject_kind, subject_id order by local_date))::integer
            as run,
        transformed_at
    from days
)

select
    user_id,
    subject_kind,
    subject_id,
    min(local_date) as start_date,
    max(local_date) as end_date,
    count(*)::integer as days,
    max(transformed_at) as transformed_at
from numbered
group by user_id, subject_kind, subject_id, run
having count(*) >= 2 or subject_kind = 'all'
