{#- Runs of consecutive local days with a play: per user, overall (subject_kind 'all', subject_id null), per
    artist (each day's primary artist) and per track. Every overall run is kept; artist and track runs of at least
    2 days. A run ending on the user's last day with data may still be going on.
    Read by history.streaks (longest: index on days; current: index on end_date) and history.recap.
    A table: gaps-and-islands over the daily aggregates. -#}
{{
    config(
        indexes=[
            {'columns': ['user_id', 'subject_kind', 'days']},
            {'columns': ['user_id', 'subject_kind', 'end_date']},
        ]
    )
}}

with days as (
    select user_id, 'all'::text as subject_kind, null::text as subject_id, local_date
    from {{ ref('agg_daily_listening') }}
    where content_kind = 'track' and plays > 0
    union all
    select distinct user_id, 'artist'::text, primary_artist_id, local_date
    from {{ ref('agg_daily_track_plays') }}
    where plays > 0 and primary_artist_id is not null
    union all
    select user_id, 'track'::text, track_id, local_date
    from {{ ref('agg_daily_track_plays') }}
    where plays > 0
),

numbered as (
    select
        user_id, subject_kind, subject_id, local_date,
        local_date - (row_number() over (partition by user_id, subject_kind, subject_id order by local_date))::integer
            as run
    from days
)

select
    user_id,
    subject_kind,
    subject_id,
    min(local_date) as start_date,
    max(local_date) as end_date,
    count(*)::integer as days
from numbered
group by user_id, subject_kind, subject_id, run
having count(*) >= 2 or subject_kind = 'all'
