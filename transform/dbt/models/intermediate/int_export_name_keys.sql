{#- The normalised "artist|title" of every exported music listen without a Spotify id (account-data records,
    extended records without a URI): how it is recognised in another source and resolved to a Spotify track
    and artist (int_track_name_resolutions). Kept incrementally by `ingested_at` (the watermark of int_plays_deduplicated) so that the regular
    expressions of the normalisation run once per record, and indexed by the key so that a resolution that
    changes finds the listens it touches without scanning every export record. -#}
{{
    config(
        materialized='incremental',
        unique_key='export_record_id',
        incremental_strategy='delete+insert',
        indexes=[
            {'columns': ['export_record_id'], 'unique': True},
            {'columns': ['name_key']},
        ],
    )
}}

select
    export_record_id,
    user_id,
    played_at,
    {{ match_name_key('artist_name', 'track_name') }} as name_key,
    ingested_at,
    {{ ingested_watermark_expression() }} as ingested_watermark
from {{ ref('stg_spotify_export__records') }}
where content_kind = 'track'
    and coalesce(track_id, 'local:') like 'local:%'
    and coalesce(spotify_uri_id, '') = ''
    and track_name is not null
{%- if is_incremental() %}
    and {{ landed_since_or_rebuilt(incremental_watermark('ingested_watermark')) }}
{%- else %}
    and {{ not_excluded_user('user_id') }}
{%- endif %}
