-- Recently-played items from the API, renamed and cast. The track object's fields that the marts denormalise
-- are read out of `item`; nothing else is decided here. An episode's show stands where a track's album and
-- artist stand (as `show_name` does for exported episodes in int_listens_unioned).
with source as (
    select * from {{ source('spotify_api', 'api_plays') }}
    -- Rows out of the listen contract stay out of every model (macros/user_isolation.sql).
    where {{ in_listen_contract('played_at', 'ms_played', 'ingested_at') }}
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
    coalesce(item -> 'album' ->> 'name', item -> 'show' ->> 'name') as album_name,
    item -> 'show' ->> 'name' as show_name,
    item -> 'artists' -> 0 ->> 'id' as primary_artist_id,
    coalesce(item -> 'artists' -> 0 ->> 'name', item -> 'show' ->> 'name') as primary_artist_name,
    ingested_at
from source
