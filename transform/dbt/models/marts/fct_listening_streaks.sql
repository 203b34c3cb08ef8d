{#- Runs of consecutive local days with a play: per user, overall (subject_kind 'all', subject_id null), per
    artist (each day's primary artist) and per track. Every overall run is kept; artist and track runs of at least
    2 days. A run ending on the user's last day with data may still be going on.
    Read by history.streaks (longest: index on days; current: index on end_date) and history.recap.
    Gaps-and-islands over the daily aggregates, incremental: per user with changed plays, the runs ending on or
    after the day before the earliest changed day (its `edge`, macros/story_changes.sql) are recomputed from the
    days since the edge; a run that begins on the edge takes the start of the stored run it continues (one that
    crossed the edge), so a poll reads the days since the edge, not every earlier day of the subjects played on it.
    A run of consecutive days has end_date - start_date + 1 days. -#}
{#- work_mem: a full build's ~1,400,000 subject-days sort in memory instead of on disk. -#}
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
    select user_id, edge from {{ streak_edges_relation() }}
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
    inner join edges on listening.user_id = edges.user_id and listening.local_date >= edges.edge
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
),

{#- The partition's text key in the "C" collation: the same partitions (equality is byte equality either way), and
    byte comparisons instead of the database collation's in the sort of every subject-day. #}
numbered as (
    select
        user_id, subject_kind, subject_id, local_date,
        local_date - (row_number() over (
            partition by user_id, subject_kind, subject_id collate "C" order by local_date
        ))::integer as run,
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
        max(transformed_at) as transformed_at
    from numbered
    group by user_id, subject_kind, subject_id, run
)

{%- if is_incremental() %}
,

{#- A run that begins on the edge continues the stored run that crossed it (the edge day is unchanged). #}
carried_runs as (
    select
        runs.user_id,
        runs.subject_kind,
        runs.subject_id,
        coalesce(carried.start_date, runs.start_date) as start_date,
        runs.end_date,
        greatest(runs.transformed_at, carried.transformed_at) as transformed_at
    from runs
    inner join edges on runs.user_id = edges.user_id
    left join {{ streak_carried_relation() }} as carried
        on runs.start_date = edges.edge
            and carried.user_id = runs.user_id and carried.subject_kind = runs.subject_kind
            and carried.subject_id is not distinct from runs.subject_id
)

select user_id, subject_kind, subject_id, start_date, end_date, (end_date - start_date + 1)::integer as days,
       transformed_at
from carried_runs
where end_date > start_date or subject_kind = 'all'
{%- else %}

select user_id, subject_kind, subject_id, start_date, end_date, (end_date - start_date + 1)::integer as days,
       transformed_at
from runs
where end_date > start_date or subject_kind = 'all'
{%- endif %}
