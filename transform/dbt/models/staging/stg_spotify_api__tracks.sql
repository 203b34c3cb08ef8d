with source as (
    select * from {{ source('spotify_api', 'tracks') }}
)

select
    track_id,
    name as track_name,
    album_id,
    album_name,
    duration_ms,
    explicit as is_explicit,
    popularity,
    preview_url,
    uri,
    source,
    ingested_at
from source
