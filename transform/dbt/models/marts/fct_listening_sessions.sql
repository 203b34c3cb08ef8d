{#- Listening sessions (music): a listen that starts more than `session_gap_minutes` (default 30) after the end of
    the previous one starts a new session. A listen starts ms_played before its end (played_at); API plays of
    unknown length start at their end. Per session: start and end instants, the local day, weekday and hour of
    its first listen (the user's zone, as fct_plays has them), plays (the play rule), listens, listening time and
    distinct tracks. Read by history.sessions (longest sessions, typical length by weekday and hour).
    One window pass over fct_plays, incremental: a run recomputes the sessions of its users from a day before their
    earliest changed listen on (macros/story_changes.sql). -#}
{#- work_mem: the window's sort of every listen (1,000,000 at 1M plays) and the grouping by session stay in memory
    instead of spilling to disk. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["set local work_mem = '128MB'", "{{ delete_recomputed_story_rows('session') }}"],
        indexes=[
            {'columns': ['user_id', 'started_at']},
            {'columns': ['user_id', 'local_date']},
            {'columns': ['user_id', 'minutes']},
        ]
    )
}}

with
{%- if is_incremental() %}
{#- Materialized: the cut is a subquery per user, never to be re-run per play. #}
cuts as materialized (
    {{ story_session_cuts_sql() }}
),
{%- endif %}

listens as (
    select
        plays.user_id, played_at, track_id, ms_played, counts_as_play, local_date, local_weekday, local_hour,
        played_at - make_interval(secs => coalesce(ms_played, 0) / 1000.0) as started_at, transformed_at
    from {{ ref('fct_plays') }} as plays
    {%- if is_incremental() %}
    inner join cuts on plays.user_id = cuts.user_id and plays.played_at > cuts.cut
    {%- endif %}
    where content_kind = 'track'
),

marked as (
    select
        *,
        case
            when lag(played_at) over by_user is null then 1
            when started_at - lag(played_at) over by_user
                > make_interval(mins => {{ var('session_gap_minutes', 30) }}) then 1
            else 0
        end as starts_session
    from listens
    window by_user as (partition by user_id order by played_at, track_id)
),

numbered as (
    select *, sum(starts_session) over (partition by user_id order by played_at, track_id) as session_number
    from marked
)

select
    user_id,
    min(started_at) as started_at,
    max(played_at) as ended_at,
    (round(extract(epoch from max(played_at) - min(started_at)) / 60.0, 1))::numeric(10, 1) as minutes,
    {#- The session's first listen is its only one that starts a session: no ordered aggregate (a sort per
        session) is needed to pick its day and hour. #}
    max(local_date) filter (where starts_session = 1) as local_date,
    max(local_weekday) filter (where starts_session = 1) as local_weekday,
    max(local_hour) filter (where starts_session = 1) as local_hour,
    (count(*) filter (where counts_as_play))::integer as plays,
    count(*)::integer as listens,
    coalesce(sum(ms_played), 0)::bigint as ms_played,
    -- Byte comparisons for the distinct tracks (the same count: equal ids are equal bytes in either collation).
    count(distinct track_id collate "C")::integer as tracks,
    max(transformed_at) as transformed_at
from numbered
group by user_id, session_number
