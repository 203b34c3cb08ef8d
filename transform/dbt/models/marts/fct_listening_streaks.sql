{#- Runs of consecutive local days with a play: per user, overall (subject_kind 'all', subject_id null), per
    artist (each day's primary artist) and per track. Every overall run is kept; artist and track runs of at least
    2 days. A run ending on the user's last day with data may still be going on.
    Read by history.streaks (longest: index on days; current: index on end_date) and history.recap.
    Gaps-and-islands over the daily aggregates, incremental: per user with changed plays, the runs ending on or
    after the day before the earliest changed day (its `edge`, macros/story_changes.sql) are recomputed from the
    days since the edge, plus the earlier days of the subjects with a play on the edge (their run may reach back). -#}
{#- work_mem: the days of the subjects on the edge (~600,000 rows at 1M plays) sort in memory instead of on disk. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["set local work_mem = '128MB'", "{{ delete_recomputed_story_rows('streak') }}"],
        indexes=[
            {'columns': ['user_id', 'subject_kind', 'days']},
            {'columns': ['user_id', 'subject_kind', 'end_date']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

with
{%- if is_incremental() %}
edges as (
    {{ story_streak_edges_sql() }}
),
{%- endif %}

track_days as (
    select daily.user_id, daily.local_date, daily.track_id, daily.primary_artist_id, daily.transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    {%- if is_incremental() %}
    inner join edges on daily.user_id = edges.user_id and daily.local_date >= edges.edge
    {%- endif %}
    where daily.plays > 0
),

days as (
    select listening.user_id, 'all'::text as subject_kind, null::text as subject_id, listening.local_date,
           listening.transformed_at
    from {{ ref('agg_daily_listening') }} as listening
    {%- if is_incremental() %}
    {#- A user's days are few (one row per day): all of them, the older runs are dropped below. #}
    inner join edges on listening.user_id = edges.user_id
    {%- endif %}
    where listening.content_kind = 'track' and listening.plays > 0
    union all
    select user_id, 'artist'::text, primary_artist_id, local_date, max(transformed_at)
    from track_days
    where primary_artist_id is not null
    group by user_id, primary_artist_id, local_date
    union all
    select user_id, 'track'::text, track_id, local_date, transformed_at
    from track_days
    {%- if is_incremental() %}
    union all
    {#- The days before the edge of the artists and tracks played on it (index probes per subject). #}
    select earlier.user_id, 'artist'::text, earlier.primary_artist_id, earlier.local_date, max(earlier.transformed_at)
    from (select distinct track_days.user_id, track_days.primary_artist_id
          from track_days inner join edges
              on track_days.user_id = edges.user_id and track_days.local_date = edges.edge
          where track_days.primary_artist_id is not null) as on_edge
    inner join {{ ref('agg_daily_track_plays') }} as earlier
        on earlier.user_id = on_edge.user_id and earlier.primary_artist_id = on_edge.primary_artist_id
    inner join edges on earlier.user_id = edges.user_id and earlier.local_date < edges.edge
    where earlier.plays > 0
    group by earlier.user_id, earlier.primary_artist_id, earlier.local_date
    union all
    select earlier.user_id, 'track'::text, earlier.track_id, earlier.local_date, earlier.transformed_at
    from (select distinct track_days.user_id, track_days.track_id
          from track_days inner join edges
              on track_days.user_id = edges.user_id and track_days.local_date = edges.edge) as on_edge
    inner join {{ ref('agg_daily_track_plays') }} as earlier
        on earlier.user_id = on_edge.user_id and earlier.track_id = on_edge.track_id
    inner join edges on earlier.user_id = edges.user_id and earlier.local_date < edges.edge
    where earlier.plays > 0
    {%- endif %}
),

numbered as (
    select
        user_id, subject_kind, subject_id, local_date,
        local_date - (row_number() over (partition by user_id, subject_kind, subject_id order by local_date))::integer
            as run,
        transformed_at
    from days
),

runs as (
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
)

select runs.user_id, runs.subject_kind, runs.subject_id, runs.start_date, runs.end_date, runs.days, runs.transformed_at
from runs
{%- if is_incremental() %}
{#- The runs the pre-hook kept (ending before the edge) are not recomputed. #}
inner join edges on runs.user_id = edges.user_id and runs.end_date >= edges.edge
{%- endif %}
