{#- Incremental support for the story marts (agg_monthly_*, agg_first_plays, fct_listening_streaks,
    fct_listening_sessions). Each stores `transformed_at`, the latest fct_plays.transformed_at it has read, as its
    watermark; the plays transformed after it (fct_plays is indexed on transformed_at) name what to recompute:
    the (user, month)s of their days for the monthly marts, the users for the others. The days come from
    changed_days_sql (a changed play's day and the day either side: a merge or a zone change moves a listen to
    another day, and the play it replaced was deleted from its old one). Users the runner excludes have no
    changed plays; those it rebuilds were purged and have all theirs changed (macros/user_isolation.sql). -#}

{% macro story_changed_months_sql() -%}
    select distinct changed_days.user_id, date_trunc('month', changed_days.local_date)::date as month_start
    from ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }}) as changed_days
{%- endmacro %}

{% macro story_changed_users_sql() -%}
    select distinct user_id from {{ ref('fct_plays') }}
    where transformed_at > {{ incremental_watermark('transformed_at') }}
{%- endmacro %}

{#- The pre-hook of a story mart: remove what the run recomputes (`by` 'month' or 'user'), so that a month or a
    user left without plays leaves no rows behind. -#}
{% macro delete_recomputed_story_rows(by) -%}
    {%- if is_incremental() -%}
        {%- if by == 'month' -%}
            delete from {{ this }} where (user_id, month_start) in ({{ story_changed_months_sql() }})
        {%- else -%}
            delete from {{ this }} where user_id in ({{ story_changed_users_sql() }})
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
