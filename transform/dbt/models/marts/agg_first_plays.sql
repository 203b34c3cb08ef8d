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

{# Hash aggregates only: a track's days are agg_daily_track_plays' rows as they are (one per user, day and track);
    an artist's days are grouped by (user, artist, day); each subject's totals and first day are one hash aggregate
    of those days, and the plays of its first week a second pass over them joined to its first day. Sorting every
    subject-day by its text keys (the window over first_date of the previous version) took ~10 s of a full build
    at 1,000,000 plays. -#}
with track_days as (
    select daily.user_id, daily.track_id, daily.primary_artist_id, daily.local_date, daily.plays, daily.ms_played,
           daily.transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    {%- if is_incremental() %}
    where (daily.user_id, daily.track_id) in (
        select user_id, subject_id from {{ first_plays_touched_relation() }} where subject_kind = 'track'
    )
    {%- endif %}
),

artist_days as (
    select daily.user_id, daily.primary_artist_id as artist_id, daily.local_date, sum(daily.plays)::bigint as plays,
           sum(daily.ms_played)::bigint as ms_played, max(daily.transformed_at) as transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    where daily.primary_artist_id is not null
    {%- if is_incremental() %}
        and (daily.user_id, daily.primary_artist_id) in (
            select user_id, subject_id from {{ first_plays_touched_relation() }} where subject_kind = 'artist'
        )
    {%- endif %}
    group by daily.user_id, daily.primary_artist_id, daily.local_date
),

days as (
    select user_id, 'track'::text as subject_kind, track_id as subject_id, primary_artist_id as artist_id, local_date,
           plays::bigint as plays, ms_played::bigint as ms_played, transformed_at
    from track_days
    union all
    select user_id, 'artist'::text, artist_id, artist_id, local_date, plays, ms_played, transformed_at
    from artist_days
),

subjects as (
    select
        user_id,
        subject_kind,
        subject_id,
        max(artist_id) as artist_id,
        min(local_date) filter (where plays > 0) as first_date,
        max(local_date) filter (where plays > 0) as last_date,
        sum(plays)::bigint as plays,
        sum(ms_played)::bigint as ms_played,
        (count(*) filter (where plays > 0))::integer as days_played,
        min(local_date) as first_listen_date,
        max(local_date) as last_listen_date,
        max(transformed_at) as transformed_at
    from days
    group by user_id, subject_kind, subject_id
    having sum(plays) > 0
),

first_weeks as (
    select days.user_id, days.subject_kind, days.subject_id, sum(days.plays)::bigint as first_week_plays
    from days
    inner join subjects
        on days.user_id = subjects.user_id and days.subject_kind = subjects.subject_kind
            and days.subject_id = subjects.subject_id
    where days.local_date <= subjects.first_date + 6
    group by days.user_id, days.subject_kind, days.subject_id
)

select
    subjects.user_id,
    subjects.subject_kind,
    subjects.subject_id,
    subjects.artist_id,
    subjects.first_date,
    subjects.last_date,
    subjects.plays,
    subjects.ms_played,
    subjects.days_played,
    coalesce(first_weeks.first_week_plays, 0)::bigint as first_week_plays,
    subjects.first_listen_date,
    subjects.last_listen_date,
    subjects.transformed_at
from subjects
left join first_weeks
    on subjects.user_id = first_weeks.user_id and subjects.subject_kind = first_weeks.subject_kind
        and subjects.subject_id = first_weeks.subject_id
