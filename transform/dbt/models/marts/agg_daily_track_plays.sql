{#- Per user, local day and track (music only): plays, listens and listening time. The base of top-track
    and repeat statistics. Indexed on transformed_at: every routine run reads the table's newest transformed_at
    (its watermark, twice) and its tests look at the rows the run wrote; without the index each was a scan of every
    per-day row (~950,000 for a heavy user). -#}
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'local_date'],
        incremental_strategy='delete+insert',
        pre_hook=["{{ delete_emptied_days(tracks_only=true) }}"],
        post_hook=["{{ create_missing_indexes() }}"],
        indexes=[
            {'columns': ['user_id', 'local_date', 'track_id'], 'unique': True},
            {'columns': ['user_id', 'track_id']},
            {'columns': ['user_id', 'primary_artist_id']},
            {'columns': ['transformed_at']},
        ],
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
    track_id,
    max(primary_artist_id) as primary_artist_id,
    count(*) filter (where counts_as_play) as plays,
    count(*) as listens,
    coalesce(sum(ms_played), 0)::bigint as ms_played,
    max(transformed_at) as transformed_at
from plays
group by user_id, local_date, track_id
