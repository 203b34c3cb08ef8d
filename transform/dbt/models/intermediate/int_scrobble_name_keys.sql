{#- The normalised "artist|title" (match_name_key) of every scrobble (raw.scrobbles): how a scrobble is matched to
    the same listen from Spotify or the other scrobble service, and resolved to a Spotify track and artist
    (int_track_name_resolutions) like a name-only export record. Kept incrementally by `ingested_at` (as
    int_export_name_keys) so the regular expressions run once per scrobble, and indexed by the key so that a
    resolution that changes finds the scrobbles it touches (macros/changed_listens.sql). -#}
{{
    config(
        materialized='incremental',
        unique_key='scrobble_id',
        incremental_strategy='delete+insert',
        indexes=[
            {'columns': ['scrobble_id'], 'unique': True},
            {'columns': ['name_key']},
        ],
    )
}}

select
    scrobble_id,
    user_id,
    started_at,
    {{ match_name_key('artist_name', 'track_name') }} as name_key,
    ingested_at,
    {{ ingested_watermark_expression() }} as ingested_watermark
from {{ ref('stg_scrobbles__listens') }}
{%- if is_incremental() %}
where {{ landed_since_or_rebuilt(incremental_watermark('ingested_watermark')) }}
{%- else %}
where {{ not_excluded_user('user_id') }}
{%- endif %}
