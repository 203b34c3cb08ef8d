{#- The seed spec's `tracks`: every track the API described or a play referenced, Spotify ids and the
    exports' `local:` ids alike. Episodes, audiobook chapters and videos that appear in plays are here too
    (`content_kind`), so every fct_plays.track_id has a row. Titles carry a trigram index (`lower(name)`, where
    pg_trgm is installed: macros/indexes.sql) for history.track_history's search by title. -#}
{{
    config(
        indexes=[
            {'columns': ['track_id'], 'unique': True},
            {'columns': ['primary_artist_id']},
        ],
        post_hook=["{{ create_trigram_index('name') }}"]
    )
}}

with api_tracks as (
    select * from {{ ref('stg_spotify_api__tracks') }}
),

played_tracks as (
    select * from {{ ref('int_tracks_played') }}
),

primary_artists as (
    select track_artists.track_id, track_artists.artist_id, artists.artist_name
    from {{ ref('stg_spotify_api__track_artists') }} as track_artists
    left join {{ ref('stg_spotify_api__artists') }} as artists on track_artists.artist_id = artists.artist_id
    where track_artists.position = 0
),

resolutions as (
    select local_track_id, spotify_track_id
    from {{ ref('stg_spotify_api__track_resolutions') }}
    where resolution_status = 'resolved'
),

track_ids as (
    select track_id from api_tracks
    union
    select track_id from played_tracks
)

select
    track_ids.track_id,
    coalesce(api_tracks.track_name, played_tracks.track_name) as name,
    api_tracks.album_id,
    coalesce(api_tracks.album_name, played_tracks.album_name) as album_name,
    api_tracks.duration_ms,
    api_tracks.is_explicit as explicit,
    api_tracks.popularity,
    api_tracks.preview_url,
    coalesce(
        api_tracks.uri,
        case
            when track_ids.track_id not like 'local:%' and coalesce(played_tracks.content_kind, 'track') = 'track'
                then 'spotify:track:' || track_ids.track_id
        end
    ) as uri,
    -- The richest source that reported it: a track only scrobbles know is the scrobble service's.
    case
        when api_tracks.track_id is not null or played_tracks.seen_in_api then 'spotify_api'
        when played_tracks.seen_in_export then 'import_zip'
        when played_tracks.seen_in_listenbrainz then 'listenbrainz'
        else 'lastfm'  -- played (every other id is the API's), and only Last.fm scrobbled it
    end as source,
    coalesce(primary_artists.artist_id, played_tracks.primary_artist_id) as primary_artist_id,
    coalesce(primary_artists.artist_name, played_tracks.primary_artist_name) as primary_artist_name,
    resolutions.spotify_track_id as resolved_track_id,
    coalesce(played_tracks.content_kind, 'track') as content_kind,
    played_tracks.last_played_at,
    played_tracks.recording_mbid
from track_ids
left join api_tracks on track_ids.track_id = api_tracks.track_id
left join played_tracks on track_ids.track_id = played_tracks.track_id
left join primary_artists on track_ids.track_id = primary_artists.track_id
left join resolutions on track_ids.track_id = resolutions.local_track_id
