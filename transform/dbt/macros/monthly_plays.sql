{#- The body of the monthly story marts, agg_monthly_artist_plays and agg_monthly_track_plays (one definition, two
    subjects): per user, local month and subject (`subject` 'artist' — each day's primary artist, as the top-artist
    lists count them — or 'track'), plays, listening time and the subject's rank among that month's subjects
    (1 = most played; ties by listening time, then id, as the tools order top lists), and how many subjects had a
    play that month (column `artists` or `tracks`). Subjects without a play in the month are left out. A track
    also carries its largest primary artist of the month.
    Incremental: a run recomputes the (user, month)s of its changed plays (macros/story_changes.sql). The fixtures
    of the tool tests render this macro with the models (tests/fixtures/marts.py). -#}
{% macro monthly_subject_plays(subject) -%}
{%- set id_column = 'artist_id' if subject == 'artist' else 'track_id' -%}
with per_month as (
    select
        user_id,
        date_trunc('month', local_date)::date as month_start,
        {%- if subject == 'artist' %}
        primary_artist_id as artist_id,
        {%- else %}
        track_id,
        max(primary_artist_id) as artist_id,
        {%- endif %}
        sum(plays)::bigint as plays,
        sum(ms_played)::bigint as ms_played,
        max(transformed_at) as transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    {%- if subject == 'artist' %}
    where primary_artist_id is not null
    {%- endif %}
    {%- if is_incremental() %}
        {{ 'and' if subject == 'artist' else 'where' }} (user_id, local_date) in (
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
    {%- if subject == 'artist' %}
    artist_id,
    {%- else %}
    track_id,
    artist_id,
    {%- endif %}
    plays,
    ms_played,
    (row_number() over (partition by user_id, month_start order by plays desc, ms_played desc, {{ id_column }}))::integer
        as rank,
    (count(*) over (partition by user_id, month_start))::integer as {{ subject }}s,
    transformed_at
from per_month
{%- endmacro %}
