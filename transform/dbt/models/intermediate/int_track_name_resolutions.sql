{#- What any source knows about a normalised "artist|title" (match_name_key): the Spotify track it is, and that
    track's primary artist. Name-only listens (account data, extended records without a URI) take their
    primary artist from here, so one artist is one row whichever export a listen came from (issue 15).

    Sources of the (artist, title) → track mapping, any user's: API plays (the item names its track and
    artists) and extended-history records that carry a Spotify track URI (both through int_name_evidence),
    and tracks described by the API (raw.tracks with their position-0 artist). A track's primary artist is the one the API listed for it
    (raw.track_artists), else the one an API play named. When several tracks share a key (one recording under
    several URIs), the one with a known artist wins, then the smallest id, so the answer does not depend on
    the order rows arrived in. `unambiguous_track_id` is that track only when it is the one Spotify track under
    the key: a name-only listen then counts as a play of it (one song, one id in top tracks); a key several
    tracks share (one recording under several URIs, or two songs of one name) leaves the listen its `local:` id,
    as a homonym artist does (int_artist_name_resolutions).

    Incremental: every run recomputes the mapping from the candidates (one row per distinct name and track) and writes only the
    keys whose answer changed, stamped `changed_at`; int_plays_deduplicated recomputes the listens of those keys
    (macros/changed_listens.sql). The evidence is kept per user (int_name_evidence), so a key no source knows any
    more (its only source was a deleted user's)
    is written with a null track, so the listens it resolved are recomputed too. -#}
{{
    config(
        materialized='incremental',
        unique_key='name_key',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['name_key'], 'unique': True},
            {'columns': ['changed_at']},
        ],
    )
}}

with candidates as (
    select * from {{ ref('int_name_evidence') }}
),

api_track_artists as (
    select distinct on (track_id) track_id, artist_id, artist_name
    from candidates
    where artist_id <> ''
    order by track_id, artist_id, artist_name
),

listed_track_artists as (
    select track_artists.track_id, track_artists.artist_id, artists.artist_name
    from {{ ref('stg_spotify_api__track_artists') }} as track_artists
    left join {{ ref('stg_spotify_api__artists') }} as artists on track_artists.artist_id = artists.artist_id
    where track_artists.position = 0
),

-- raw.tracks with their listed primary artist are evidence too (few rows: normalised every run).
keyed_tracks as (
    select distinct name_key, track_id from candidates
    union
    select {{ match_name_key('listed_track_artists.artist_name', 'tracks.track_name') }}, tracks.track_id
    from {{ ref('stg_spotify_api__tracks') }} as tracks
    inner join listed_track_artists on tracks.track_id = listed_track_artists.track_id
    where tracks.track_name is not null and listed_track_artists.artist_name is not null
),

-- How many Spotify tracks carry each key: a name-only listen takes the track id only when exactly one does.
track_counts as (
    select name_key, count(distinct track_id) as track_count
    from keyed_tracks
    group by name_key
),

resolved as (
    select distinct on (keyed_tracks.name_key)
        keyed_tracks.name_key,
        keyed_tracks.track_id,
        case when track_counts.track_count = 1 then keyed_tracks.track_id end as unambiguous_track_id,
        coalesce(listed_track_artists.artist_id, api_track_artists.artist_id) as artist_id,
        coalesce(listed_track_artists.artist_name, api_track_artists.artist_name) as artist_name
    from keyed_tracks
    left join listed_track_artists on keyed_tracks.track_id = listed_track_artists.track_id
    left join api_track_artists on keyed_tracks.track_id = api_track_artists.track_id
    inner join track_counts on keyed_tracks.name_key = track_counts.name_key
    where keyed_tracks.name_key is not null
    order by
        keyed_tracks.name_key,
        (coalesce(listed_track_artists.artist_id, api_track_artists.artist_id) is null),
        keyed_tracks.track_id
)

{% if is_incremental() %}
select
    resolved.name_key,
    resolved.track_id,
    resolved.unambiguous_track_id,
    resolved.artist_id,
    resolved.artist_name,
    now() as changed_at
from resolved
left join {{ this }} as stored on resolved.name_key = stored.name_key
where stored.name_key is null
    or (stored.track_id, stored.unambiguous_track_id, stored.artist_id, stored.artist_name)
        is distinct from (resolved.track_id, resolved.unambiguous_track_id, resolved.artist_id, resolved.artist_name)
union all
select stored.name_key, null, null, null, null, now()
from {{ this }} as stored
where stored.track_id is not null
    and not exists (select from resolved where resolved.name_key = stored.name_key)
{% else %}
select name_key, track_id, unambiguous_track_id, artist_id, artist_name, now() as changed_at
from resolved
{% endif %}
