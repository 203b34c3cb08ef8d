{#- When each artist and track entered a user's life: per user and subject (subject_kind 'artist' — each day's
    primary artist — or 'track'), the first and last local day with a play, all-time plays and listening time, the
    days with a play, and the plays of the first 7 days (first_date .. first_date + 6: "love at first sight").
    Subjects with listens but no play (only skips) are left out.
    Read by history.discoveries ("first heard in a window" is an index range on first_date), history.recap and
    the artist and track histories. first_listen_date .. last_listen_date spans every day with a listen (skips
    included): what an incremental run needs to know which stored subjects a change touches. Aggregates over
    agg_daily_track_plays, incremental: a run recomputes only the (user, subject)s with a listen on a changed
    day, before or after the change (macros/first_plays_changes.sql). -#}
{#- work_mem: the touched subjects' days (~800,000 rows at 1M plays) sort in memory instead of on disk. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["set local work_mem = '128MB'", "{{ delete_touched_first_plays() }}"],
        indexes=[
            {'columns': ['user_id', 'subject_kind', 'subject_id'], 'unique': True},
            {'columns': ['user_id', 'subject_kind', 'first_date']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

with days as (
    select daily.user_id, 'track'::text as subject_kind, daily.track_id as subject_id,
           daily.primary_artist_id as artist_id, daily.local_date, daily.plays, daily.ms_played, daily.transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    {%- if is_incremental() %}
    where (daily.user_id, daily.track_id) in (
        select user_id, subject_id from {{ first_plays_touched_relation() }} where subject_kind = 'track'
    )
    {%- endif %}
    union all
    select daily.user_id, 'artist'::text, daily.primary_artist_id, daily.primary_artist_id, daily.local_date,
           daily.plays, daily.ms_played, daily.transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    where daily.primary_artist_id is not null
    {%- if is_incremental() %}
        and (daily.user_id, daily.primary_artist_id) in (
            select user_id, subject_id from {{ first_plays_touched_relation() }} where subject_kind = 'artist'
        )
    {%- endif %}
),

per_day as (
    select user_id, subject_kind, subject_id, max(artist_id) as artist_id, local_date,
           sum(plays)::bigint as plays, sum(ms_played)::bigint as ms_played, max(transformed_at) as transformed_at
    from days
    group by user_id, subject_kind, subject_id, local_date
),

{#- first_date as a window over the subject's days, so the days are sorted once (for per_day) and both the window
    and the final grouping follow that order; joining a separately grouped first_date back sorted them again. -#}
with_first as (
    select
        *,
        min(local_date) filter (where plays > 0) over (partition by user_id, subject_kind, subject_id) as first_date
    from per_day
)

select
    user_id,
    subject_kind,
    subject_id,
    max(artist_id) as artist_id,
    min(first_date) as first_date,
    max(local_date) filter (where plays > 0) as last_date,
    sum(plays)::bigint as plays,
    sum(ms_played)::bigint as ms_played,
    (count(*) filter (where plays > 0))::integer as days_played,
    (coalesce(sum(plays) filter (where local_date <= first_date + 6), 0))::bigint as first_week_plays,
    min(local_date) as first_listen_date,
    max(local_date) as last_listen_date,
    max(transformed_at) as transformed_at
from with_first
group by user_id, subject_kind, subject_id
having sum(plays) > 0
