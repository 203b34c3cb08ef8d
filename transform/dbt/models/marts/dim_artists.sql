{#- Every artist the API described, a track listed, or a play referenced (exports without a URI give
    `local:<md5(lower(name))>` artists). `genres` is a jsonb list of text, empty until details were fetched. -#}
{{ config(indexes=[{'columns': ['artist_id'], 'unique': True}]) }}

with api_artists as (
    select * from {{ ref('stg_spotify_api__artists') }}
),

played_artists as (
    select artist_id, artist_name, seen_in_export, seen_in_listenbrainz, artist_mbid
    from {{ ref('int_artists_played') }}
),

listed_artists as (
    select distinct artist_id from {{ ref('stg_spotify_api__track_artists') }}
),

artist_ids as (
    select artist_id from api_artists
    union
    select artist_id from played_artists
    union
    select artist_id from listed_artists
)

select
    artist_ids.artist_id,
    coalesce(api_artists.artist_name, played_artists.artist_name) as name,
    coalesce(api_artists.genres, '[]'::jsonb) as genres,
    api_artists.popularity,
    coalesce(
        api_artists.uri,
        case when artist_ids.artist_id not like 'local:%' then 'spotify:artist:' || artist_ids.artist_id end
    ) as uri,
    -- A `local:` artist (known by name only) is the source's that named it: an export, else a scrobble service.
    case
        when artist_ids.artist_id not like 'local:%' then 'spotify_api'
        when played_artists.seen_in_export or played_artists.artist_id is null then 'import_zip'
        when played_artists.seen_in_listenbrainz then 'listenbrainz'
        else 'lastfm'
    end as source,
    played_artists.artist_mbid
from artist_ids
left join api_artists on artist_ids.artist_id = api_artists.artist_id
left join played_artists on artist_ids.artist_id = played_artists.artist_id
