with source as (
    select * from {{ source('spotify_api', 'audio_features') }}
)

select
    track_id,
    danceability,
    energy,
    valence,
    tempo,
    instrumentalness,
    acousticness,
    liveness,
    speechiness,
    loudness,
    mode,
    key as musical_key,
    time_signature,
    ingested_at
from source
