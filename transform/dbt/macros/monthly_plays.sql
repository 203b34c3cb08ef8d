{#- The body of the story marts that sum agg_daily_track_plays over a local calendar period (`grain` 'month' or
    'year'): one definition of the period, of the days an incremental run reads and of the sums, at two grains.

    grain 'month' (agg_monthly_artist_plays, agg_monthly_track_plays): per user, local month and subject
    (`subject` 'artist' — each day's primary artist, as the top-artist lists count them — or 'track'), plays,
    listening time and the subject's rank among that month's subjects (1 = most played; ties by listening time,
    then id, as the tools order top lists), and how many subjects had a play that month (column `artists` or
    `tracks`). Subjects without a play in the month are left out. A track also carries its largest primary
    artist of the month.
    grain 'year' (agg_yearly_track_plays, `subject` 'track'): per user, year, track and primary artist, plays,
    listens, listening time and the first and last day; rows without a play are kept and a track whose primary
    artist changed within the year has a row per artist, so sums over whole years equal sums over the per-day rows.

    Incremental: a run recomputes the (user, period)s of its changed plays (macros/story_changes.sql); `incremental`
    false reads every day (a table stored before a column the model gained is recomputed whole). The fixtures of
    the tool tests render this macro with the models (tests/fixtures/marts.py). -#}
{% macro subject_plays_by_period(grain, subject, incremental=none) -%}
{%- set incremental = is_incremental() if incremental is none else incremental -%}
{%- set period = grain ~ '_start' -%}
{%- set ranked = grain == 'month' -%}
{%- set id_column = 'artist_id' if subject == 'artist' else 'track_id' -%}
with per_period as (
    select
        user_id,
        date_trunc('{{ grain }}', local_date)::date as {{ period }},
        {%- if subject == 'artist' %}
        primary_artist_id as artist_id,
        {%- elif ranked %}
        track_id,
        max(primary_artist_id) as artist_id,
        {%- else %}
        track_id,
        primary_artist_id,
        {%- endif %}
        sum(plays)::bigint as plays,
        {%- if not ranked %}
        sum(listens)::bigint as listens,
        {%- endif %}
        sum(ms_played)::bigint as ms_played,
        {%- if not ranked %}
        min(local_date) as first_local_date,
        max(local_date) as last_local_date,
        {%- endif %}
        max(transformed_at) as transformed_at
    from {{ ref('agg_daily_track_plays') }} as daily
    {%- if subject == 'artist' %}
    where primary_artist_id is not null
    {%- endif %}
    {%- if incremental %}
        {{ 'and' if subject == 'artist' else 'where' }} (user_id, local_date) in (
            select changed.user_id, period_days.local_date::date
            from ({{ story_changed_months_sql() if grain == 'month' else story_changed_years_sql() }}) as changed
            cross join generate_series(
                changed.{{ period }}, changed.{{ period }} + interval '1 {{ grain }}' - interval '1 day',
                interval '1 day'
            ) as period_days (local_date)
        )
    {%- endif %}
    group by {{ '1, 2, 3' if ranked else '1, 2, 3, 4' }}
    {%- if ranked %}
    having sum(plays) > 0
    {%- endif %}
)

select
    user_id,
    {{ period }},
    {%- if subject == 'artist' %}
    artist_id,
    {%- elif ranked %}
    track_id,
    artist_id,
    {%- else %}
    track_id,
    primary_artist_id,
    {%- endif %}
    plays,
    {%- if ranked %}
    ms_played,
    (row_number() over (partition by user_id, {{ period }} order by plays desc, ms_played desc, {{ id_column }}))::integer
        as rank,
    (count(*) over (partition by user_id, {{ period }}))::integer as {{ subject }}s,
    {%- else %}
    listens,
    ms_played,
    first_local_date,
    last_local_date,
    {%- endif %}
    transformed_at
from per_period
{%- endmacro %}
