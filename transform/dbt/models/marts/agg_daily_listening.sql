{#- Per user, local day and content kind: plays (the play rule), listens (every row), listening time. -#}
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'local_date'],
        incremental_strategy='delete+insert',
        pre_hook=["{{ delete_emptied_days() }}"],
        indexes=[{'columns': ['user_id', 'local_date', 'content_kind'], 'unique': True}],
    )
}}

with plays as (
    select * from {{ ref('fct_plays') }}
    {%- if is_incremental() %}
    where (user_id, local_date) in ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }})
    {%- endif %}
)

select
    user_id,
    local_date,
    content_kind,
    count(*) filter (where counts_as_play) as plays,
    count(*) as listens,
    coalesce(sum(ms_played), 0)::bigint as ms_played,
    count(distinct track_id) filter (where counts_as_play) as unique_tracks,
    count(distinct primary_artist_id) filter (where counts_as_play) as unique_artists,
    max(transformed_at) as transformed_at
from plays
group by user_id, local_date, content_kind
