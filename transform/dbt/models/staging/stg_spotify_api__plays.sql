-- Recently-played items from the API, renamed and cast. The track object's fields that the marts denormalise
-- are read out of `item`; nothing else is decided here.
with source as (
    select * from {{ source('spotify_api', 'api_plays') }}
)

select
    id as api_play_id,
    user_id,
    played_at,
    track_id,
    ms_played,
    coalesce(item ->> 'type', 'track') as content_kind,
    context_type,
    context_uri,
    item ->> 'name' as track_name,
    item -> 'album' ->> 'name' as album_name,
    item -> 'artists' -> 0 ->> 'id' as primary_artist_id,
    item -> 'artists' -> 0 ->> 'name' as primary_artist_name,
    ingested_at
from source
