{#- All-time weekday × hour profile per user (music only), in the user's time zone. ISO weekday 1 = Monday. -#}
{{ config(indexes=[{'columns': ['user_id', 'local_weekday', 'local_hour'], 'unique': True}]) }}

with hourly as (
    select * from {{ ref('agg_hourly_listening') }}
)

select
    user_id,
    local_weekday,
    local_hour,
    sum(plays)::bigint as plays,
    sum(ms_played)::bigint as ms_played
from hourly
group by user_id, local_weekday, local_hour
