{#- Incremental support for agg_first_plays: a run recomputes only the (user, subject)s a change can touch.

    A subject's row depends on every day it was listened to, so a change touches the subjects with a listen on a
    changed day (changed_days_sql: the days of plays transformed since the model's watermark, ± 1) — now, read
    from agg_daily_track_plays as this run left it, or before the change, read from the stored row's span of
    listen days (first_listen_date .. last_listen_date, skips included: a subject whose only listen that day
    was a skip, or a play that moved to another track, is touched too). Rows stored before the span columns
    existed (no column yet, or a null span) count as touched when their user changed.

    The pre-hook writes that set to a temporary table (dropped at the commit of the model's transaction, in
    which the pre-hook, the model's select and the insert all run), deletes those stored rows, and the model
    recomputes exactly those subjects from all their days: the set must be known before the delete, as the
    stored spans are part of it. -#}

{% macro first_plays_touched_relation() -%}
    pg_temp.agg_first_plays__touched
{%- endmacro %}

{% macro delete_touched_first_plays() -%}
    {%- if is_incremental() -%}
        {#- A table built before the span columns gets them (on_schema_change) only after this hook. -#}
        {%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- set has_spans = 'first_listen_date' in stored_columns -%}
        drop table if exists {{ first_plays_touched_relation() }};
        create temporary table agg_first_plays__touched on commit drop as
        with changed_days as materialized (
            {{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }}
        ),
        spans as (
            select user_id, min(local_date) as first_changed, max(local_date) as last_changed
            from changed_days
            group by user_id
        )
        select daily.user_id, 'track'::text as subject_kind, daily.track_id as subject_id
        from {{ ref('agg_daily_track_plays') }} as daily
        inner join changed_days using (user_id, local_date)
        union
        select daily.user_id, 'artist'::text, daily.primary_artist_id
        from {{ ref('agg_daily_track_plays') }} as daily
        inner join changed_days using (user_id, local_date)
        where daily.primary_artist_id is not null
        union
        select stored.user_id, stored.subject_kind, stored.subject_id
        from {{ this }} as stored
        inner join spans using (user_id)
        {%- if has_spans %}
        where coalesce(
            stored.first_listen_date <= spans.last_changed and stored.last_listen_date >= spans.first_changed, true
        )
        {%- endif %};
        analyze {{ first_plays_touched_relation() }};
        delete from {{ this }} as stored
        using {{ first_plays_touched_relation() }} as touched
        where stored.user_id = touched.user_id
            and stored.subject_kind = touched.subject_kind
            and stored.subject_id = touched.subject_id
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
