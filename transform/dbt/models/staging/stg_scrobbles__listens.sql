-- ListenBrainz listens and Last.fm scrobbles (raw.scrobbles), renamed. A scrobble marks the START of a listen and
-- carries no ms_played; `duration_ms` is the track's length when the source said it (not how long it played).
-- Matched to Spotify's listens of the same track downstream (docs/warehouse-contract.md, "Scrobbles").
with source as (
    select * from {{ source('scrobbles', 'scrobbles') }}
)

select
    id as scrobble_id,
    user_id,
    record_key,
    source as scrobble_source,
    started_at,
    spotify_track_id as track_id,
    track_name,
    artist_name,
    album_name,
    recording_mbid,
    release_mbid,
    artist_mbid,
    duration_ms as source_duration_ms,
    source_file,
    ingested_at
from source
