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
