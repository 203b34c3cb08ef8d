-- Every listen from both sources in one shape: one row per raw row, nothing merged yet.
--   * `listen_source`: `spotify_api` (recently-played) or `import_zip` (the data export).
--   * `track_id`: the Spotify id; for a music listen known only by name, the one Spotify track any source knows
--     under its normalised artist + title (int_track_name_resolutions.unambiguous_track_id); else the export's
--     `local:` id; for episodes / audiobooks / video without an
--     id in the export, `local:<md5(kind|title|show)>`.
--   * The primary artist comes from the API's item, else from the enriched track's artists (position 0),
--     else, for a music listen known only by name, from the track any source knows under that normalised
--     artist + title (int_track_name_resolutions), else from the one Spotify artist known under that name
--     (int_artist_name_resolutions), else a `local:` id made from the exported artist name.
with api_plays as (
    select * from {{ ref('stg_spotify_api__plays') }}
),

export_records as (
    select * from {{ ref('stg_spotify_export__records') }}
),

tracks as (
    select * from {{ ref('stg_spotify_api__tracks') }}
),

primary_artists as (
    select
        track_artists.track_id,
        track_artists.artist_id,
        artists.artist_name
    from {{ ref('stg_spotify_api__track_artists') }} as track_artists
    left join {{ ref('stg_spotify_api__artists') }} as artists
        on track_artists.artist_id = artists.artist_id
    where track_artists.position = 0
),

resolutions as (
    select local_track_id, spotify_track_id
    from {{ ref('stg_spotify_api__track_resolutions') }}
    where resolution_status = 'resolved'
),

name_resolutions as (
    select
        export_name_keys.export_record_id,
        resolutions.unambiguous_track_id,
        resolutions.artist_id,
        resolutions.artist_name
    from {{ ref('int_export_name_keys') }} as export_name_keys
    inner join {{ ref('int_track_name_resolutions') }} as resolutions
        on export_name_keys.name_key = resolutions.name_key
    where resolutions.track_id is not null
),

artist_name_resolutions as (
    select artist_key, artist_id, artist_name
    from {{ ref('int_artist_name_resolutions') }}
    where artist_id is not null
),

unioned as (
    select
        'spotify_api' as listen_source,
        null as source_format,
        api_play_id,
        null::bigint as export_record_id,
        user_id,
        played_at,
        track_id,
        content_kind,
        ms_played,
        context_type,
        context_uri,
        track_name,
        album_name,
        primary_artist_id,
        primary_artist_name,
        false as is_incognito,
        null::boolean as skipped,
        ingested_at
    from api_plays

    union all

    select
        'import_zip' as listen_source,
        source_format,
        null::bigint as api_play_id,
        export_record_id,
        user_id,
        played_at,
        coalesce(
            track_id,
            nullif(spotify_uri_id, ''),
            'local:' || md5(concat_ws('|', content_kind, lower(coalesce(episode_name, audiobook_chapter_title, track_name)),
                lower(coalesce(show_name, audiobook_title, album_name))))
        ) as track_id,
        content_kind,
        ms_played,
        null as context_type,
        null as context_uri,
        coalesce(track_name, episode_name, audiobook_chapter_title) as track_name,
        coalesce(album_name, show_name, audiobook_title) as album_name,
        null as primary_artist_id,
        coalesce(artist_name, show_name) as primary_artist_name,
        is_incognito,
        skipped,
        ingested_at
    from export_records
)

select
    unioned.listen_source,
    unioned.source_format,
    unioned.api_play_id,
    unioned.export_record_id,
    unioned.user_id,
    unioned.played_at,
    -- A name-only music listen is a play of the one Spotify track any source knows under its artist + title.
    coalesce(name_resolutions.unambiguous_track_id, unioned.track_id) as track_id,
    resolutions.spotify_track_id as resolved_track_id,
    unioned.content_kind,
    unioned.ms_played,
    unioned.context_type,
    unioned.context_uri,
    coalesce(unioned.track_name, tracks.track_name) as track_name,
    coalesce(unioned.album_name, tracks.album_name) as album_name,
    coalesce(
        unioned.primary_artist_id,
        primary_artists.artist_id,
        name_resolutions.artist_id,
        artist_name_resolutions.artist_id,
        case when unioned.content_kind = 'track' then {{ local_artist_id('unioned.primary_artist_name') }} end
    ) as primary_artist_id,
    coalesce(
        unioned.primary_artist_name,
        primary_artists.artist_name,
        case when name_resolutions.artist_id is not null then name_resolutions.artist_name end
    ) as primary_artist_name,
    unioned.is_incognito,
    unioned.skipped,
    unioned.ingested_at
from unioned
left join tracks
    on unioned.track_id = tracks.track_id
left join primary_artists
    on unioned.track_id = primary_artists.track_id
left join resolutions
    on unioned.track_id = resolutions.local_track_id
left join name_resolutions
    on unioned.export_record_id = name_resolutions.export_record_id
left join artist_name_resolutions
    on unioned.listen_source = 'import_zip'
    and unioned.content_kind = 'track'
    and lower(unioned.primary_artist_name) = artist_name_resolutions.artist_key
