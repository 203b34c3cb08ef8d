with source as (
    select * from {{ source('spotify_api', 'track_artists') }}
)

select
    track_id,
    artist_id,
    position,
    ingested_at
from source
