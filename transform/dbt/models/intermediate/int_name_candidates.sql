{#- Every (normalised "artist|title", Spotify track) pair any source has shown, with the primary artist when the
    source named one (API plays): the evidence int_track_name_resolutions and int_artist_name_resolutions decide
    from. Kept incrementally by `ingested_at` (the watermark of int_plays_deduplicated), so the API plays' JSON
    and the export records are read once, not on every run; the names are normalised once per distinct triple. -#}
{{
    config(
        materialized='incremental',
        unique_key=['name_key', 'track_id', 'artist_id'],
        incremental_strategy='delete+insert',
        indexes=[
            {'columns': ['name_key', 'track_id', 'artist_id'], 'unique': True},
            {'columns': ['track_id']},
        ],
    )
}}

{%- set since = incremental_watermark('ingested_watermark') if is_incremental() else none %}

with named_tracks as (
    select primary_artist_name as artist_name, track_name, track_id, coalesce(primary_artist_id, '') as artist_id,
        primary_artist_name as spotify_artist_name
    from {{ ref('stg_spotify_api__plays') }}
    where content_kind = 'track' and track_id is not null
    {%- if since %} and ingested_at >= {{ since }}{% endif %}
    union
    select artist_name, track_name, coalesce(nullif(spotify_uri_id, ''), track_id), '', null
    from {{ ref('stg_spotify_export__records') }}
    where content_kind = 'track'
        and coalesce(nullif(spotify_uri_id, ''), track_id) not like 'local:%'
    {%- if since %} and ingested_at >= {{ since }}{% endif %}
),

keyed as (
    select
        {{ match_name_key('artist_name', 'track_name') }} as name_key,
        track_id,
        artist_id,
        min(spotify_artist_name) as artist_name
    from named_tracks
    where track_name is not null and artist_name is not null
    group by 1, 2, 3
)

select
    keyed.name_key,
    keyed.track_id,
    keyed.artist_id,
    keyed.artist_name,
    {{ ingested_watermark_expression() }} as ingested_watermark
from keyed
where keyed.name_key is not null
