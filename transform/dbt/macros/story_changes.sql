{#- Incremental support for the story marts (agg_monthly_*, agg_yearly_track_plays, agg_yearly_recap,
    agg_first_plays, fct_listening_streaks, fct_listening_sessions). Each stores `transformed_at`, the latest
    fct_plays.transformed_at it has read, as its watermark; the plays transformed after it (fct_plays is indexed on
    transformed_at) name what to recompute: the (user, month)s of their days for the monthly marts, the
    (user, year)s for the yearly one, the users for the others. The days come from changed_days_sql (a changed
    play's day and the day either side: a merge or a zone change moves a listen to another day, and the play it
    replaced was deleted from its old one). Users the runner excludes have no changed plays; those it rebuilds were
    purged and have all theirs changed (macros/user_isolation.sql). -#}

{% macro story_changed_months_sql() -%}
    select distinct changed_days.user_id, date_trunc('month', changed_days.local_date)::date as month_start
    from ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }}) as changed_days
{%- endmacro %}

{% macro story_changed_years_sql() -%}
    select distinct changed_months.user_id, date_trunc('year', changed_months.month_start)::date as year_start
    from ({{ story_changed_months_sql() }}) as changed_months
{%- endmacro %}

{% macro story_changed_users_sql() -%}
    select distinct user_id from {{ ref('fct_plays') }}
    where transformed_at > {{ incremental_watermark('transformed_at') }}
{%- endmacro %}

{#- The pre-hook of a story mart: remove what the run recomputes (`by` 'month', 'year', 'recap', 'streak',
    'session' or 'user'), so that a month, a year or a user left without plays leaves no rows behind. -#}
{% macro delete_recomputed_story_rows(by) -%}
    {%- if is_incremental() -%}
        {%- if by == 'month' -%}
            delete from {{ this }} where (user_id, month_start) in ({{ story_changed_months_sql() }})
        {%- elif by == 'year' -%}
            delete from {{ this }} where (user_id, year_start) in ({{ story_changed_years_sql() }})
        {%- elif by == 'recap' -%}
            {#- The changed years, and the all-time row (year_start null) of every user with a changed play. #}
            delete from {{ this }}
            where (user_id, year_start) in ({{ story_changed_years_sql() }})
                or (year_start is null and user_id in ({{ story_changed_users_sql() }}))
        {%- elif by == 'streak' -%}
            {#- The edges, and the stored runs that cross them (their start, kept before they are deleted), go to
                temporary tables the model reads in the same transaction (dropped at its commit). #}
            drop table if exists {{ streak_edges_relation() }};
            drop table if exists {{ streak_carried_relation() }};
            create temporary table fct_listening_streaks__edges on commit drop as
            {{ story_streak_edges_sql() }};
            create temporary table fct_listening_streaks__carried on commit drop as
            select stored.user_id, stored.subject_kind, stored.subject_id, stored.start_date, stored.transformed_at
            from {{ this }} as stored
            inner join {{ streak_edges_relation() }} as edges
                on stored.user_id = edges.user_id and stored.end_date >= edges.edge and stored.start_date < edges.edge;
            analyze {{ streak_edges_relation() }};
            analyze {{ streak_carried_relation() }};
            delete from {{ this }} as stored
            using {{ streak_edges_relation() }} as edges
            where stored.user_id = edges.user_id and stored.end_date >= edges.edge
        {%- elif by == 'session' -%}
            {#- Materialized: the cut is a subquery per user, never to be re-run per stored row. #}
            with cuts as materialized ({{ story_session_cuts_sql() }})
            delete from {{ this }} as stored
            using cuts
            where stored.user_id = cuts.user_id and stored.ended_at > cuts.cut
        {%- else -%}
            delete from {{ this }} where user_id in ({{ story_changed_users_sql() }})
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Sessions change only from a changed play on: per user with changed plays, `cut` is the end of the last stored
    session that ended more than a day plus the session gap before the earliest changed listen started (a merge
    moves a listen by minutes, never a day), or -infinity. Sessions ending after the cut are recomputed from the
    plays after it; the first of those starts a session (the stored one before ended at the cut, and the next
    listen had started more than the gap after it). The cut reads only stored sessions ending before the bound,
    which the pre-hook keeps, so the pre-hook and the model agree on it. -#}
{% macro story_session_cuts_sql() -%}
    select
        changed.user_id,
        coalesce(
            (select max(stored.ended_at) from {{ this }} as stored
             where stored.user_id = changed.user_id and stored.ended_at < changed.bound),
            '-infinity'::timestamptz
        ) as cut
    from (
        select
            user_id,
            min(played_at - make_interval(secs => coalesce(ms_played, 0) / 1000.0)) - interval '1 day'
                - make_interval(mins => {{ var('session_gap_minutes', 30) }}) as bound
        from {{ ref('fct_plays') }}
        where transformed_at > {{ incremental_watermark('transformed_at') }}
        group by user_id
    ) as changed
{%- endmacro %}

{#- Per user with changed plays, the day before the earliest changed day (changed_days_sql already widens by a
    day): the edge day and the days before it are the same as in the stored runs, so runs ending before it stand,
    and a stored run that crosses it (start before it, end on or after it) started where it did: the model recomputes
    the runs from the days since the edge and gives the one that begins on the edge the crossing run's start
    (fct_listening_streaks__carried), instead of reading every earlier day of the subjects played on the edge. -#}
{% macro story_streak_edges_sql() -%}
    select changed_days.user_id, min(changed_days.local_date) - 1 as edge
    from ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }}) as changed_days
    group by changed_days.user_id
{%- endmacro %}

{% macro streak_edges_relation() -%}
    pg_temp.fct_listening_streaks__edges
{%- endmacro %}

{% macro streak_carried_relation() -%}
    pg_temp.fct_listening_streaks__carried
{%- endmacro %}
