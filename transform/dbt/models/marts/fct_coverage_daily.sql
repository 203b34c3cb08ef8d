{#- Which local days have data from which source (`spotify_api`, `import_zip`, `listenbrainz`, `lastfm`). A merged
    listen counts for each source that delivered it: `both` for the API and the export, and every scrobble service
    in `scrobble_sources`. Days without a row for a source are gaps in that source. -#}
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'local_date'],
        incremental_strategy='delete+insert',
        pre_hook=["{{ delete_emptied_days() }}"],
        indexes=[{'columns': ['user_id', 'local_date', 'source'], 'unique': True}],
    )
}}

with plays as (
    select * from {{ ref('fct_plays') }}
    {%- if is_incremental() %}
    where (user_id, local_date) in ({{ changed_days_sql(ref('fct_plays'), incremental_watermark('transformed_at')) }})
    {%- endif %}
),

plays_per_source as (
    select plays.*, sources.source_name
    from plays
    inner join (values ('spotify_api'), ('import_zip'), ('listenbrainz'), ('lastfm')) as sources (source_name)
        on plays.source = sources.source_name
        or (plays.source = 'both' and sources.source_name in ('spotify_api', 'import_zip'))
        or sources.source_name = any(string_to_array(plays.scrobble_sources, ','))
)

select
    user_id,
    local_date,
    source_name as source,
    count(*) as listens,
    min(played_at) as first_played_at,
    max(played_at) as last_played_at,
    max(transformed_at) as transformed_at
from plays_per_source
group by user_id, local_date, source_name
