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
    the changed days the model recomputes, so they are removed here. -#}
{% macro delete_emptied_days(tracks_only=false) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as stored
        where stored.user_id in (
                select distinct user_id from {{ ref('fct_plays') }}
                where transformed_at > {{ incremental_watermark('transformed_at') }}
            )
            and not exists (
                select from {{ ref('fct_plays') }} as plays
                where plays.user_id = stored.user_id and plays.local_date = stored.local_date
                    {%- if tracks_only %} and plays.content_kind = 'track'{% endif %}
            )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
