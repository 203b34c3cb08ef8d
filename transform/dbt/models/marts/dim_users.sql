{#- Users with the IANA time zone every calendar-like number is computed in. -#}
{{ config(indexes=[{'columns': ['user_id'], 'unique': True}]) }}

select
    user_id,
    timezone,
    display_name
from {{ ref('stg_app__users') }}
