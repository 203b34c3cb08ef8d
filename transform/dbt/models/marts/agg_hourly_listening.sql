{#- Per user, local day and local hour (music only): plays and listening time. -#}
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'local_date'],
        incremental_strategy='delete+insert',
        pre_hook=["{{ delete_emptied_days(tracks_only=true) }}"],
        indexes=[{'columns': ['user_id', 'local_date', 'local_hour'], 'unique': True}],
    )
}}

with plays as (
    select * from {{ ref('fct_plays') }}
    where content_kind = 'track'
    {%- if is_incremental() %}
        and (user_id, local_date) in ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }})
    {%- endif %}
)

select
    user_id,
    local_date,
    min(local_weekday) as local_weekday,
    local_hour,
    count(*) filter (where counts_as_play) as plays,
    coalesce(sum(ms_played), 0)::bigint as ms_played,
    max(transformed_at) as transformed_at
from plays
group by user_id, local_date, local_hour
