{#- The (user_id, local_date) days an incremental daily model recomputes: days of plays transformed since the
    model's watermark, and the day either side (a merge can move a listen across midnight by a few seconds,
    and the play it replaced was deleted from its old day). -#}
{% macro changed_days_sql(plays_relation, watermark) -%}
    select distinct changed.user_id, changed.local_date + offsets.day_offset as local_date
    from (
        select distinct user_id, local_date
        from {{ plays_relation }}
        where transformed_at > {{ watermark }}
    ) as changed
    cross join (values (-1), (0), (1)) as offsets (day_offset)
{%- endmacro %}


{#- The pre-hook of the incremental daily models: remove the stored days of users whose plays changed in this run
    that have no play left (`tracks_only`: the model counts music only). A time-zone change moves every
    listen of a user to other local dates, and a merge can move one across midnight: the old days are not among
    the changed days the model recomputes, so they are removed here.
    Every stored day of those users is checked, so it reads each distinct stored day once, by walking the model's
    (user_id, local_date, …) index day by day (a "loose index scan": one probe per day, ~1,100 for three years),
    and asks fct_plays' (user_id, local_date) index whether the day still has a play. The anti join of every stored
    row with fct_plays it replaces hashed every play of the users (1,000,000 rows, spilled to disk): 6–13 s per daily
    model and routine run at 1M plays on the loaded machine (bench/README.md, Transform). -#}
{% macro delete_emptied_days(tracks_only=false) -%}
    {%- if is_incremental() -%}
        with recursive changed_users as (
            select distinct user_id from {{ ref('fct_plays') }}
            where transformed_at > {{ incremental_watermark('transformed_at') }}
        ),
        stored_days (user_id, local_date) as (
            select changed_users.user_id,
                   (select min(stored.local_date) from {{ this }} as stored where stored.user_id = changed_users.user_id)
            from changed_users
            union all
            select stored_days.user_id,
                   (select min(stored.local_date) from {{ this }} as stored
                    where stored.user_id = stored_days.user_id and stored.local_date > stored_days.local_date)
            from stored_days
            where stored_days.local_date is not null
        )
        delete from {{ this }} as stored
        using stored_days as emptied
        where emptied.local_date is not null
            and stored.user_id = emptied.user_id and stored.local_date = emptied.local_date
            {#- A scalar subquery with a limit, not `not exists`: PostgreSQL turns that into a hash anti join that
                reads every play (it misjudges the days' count) instead of one index probe per day. #}
            and (
                select true from {{ ref('fct_plays') }} as plays
                where plays.user_id = emptied.user_id and plays.local_date = emptied.local_date
                    {%- if tracks_only %} and plays.content_kind = 'track'{% endif %}
                limit 1
            ) is null
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
