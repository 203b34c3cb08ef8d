-- Every listen from every source in one shape: one row per raw row, nothing merged yet.
--   * `listen_source`: `spotify_api` (recently-played), `import_zip` (the data export) or `scrobble` (raw.scrobbles,
--     `source_format` `listenbrainz` | `lastfm`).
--   * `track_id`: the Spotify id; for a music listen known only by name, the one Spotify track any source knows
--     under its normalised artist + title (int_track_name_resolutions.unambiguous_track_id), else the Spotify
--     track the resolver settled its `local:` id on (raw.track_resolutions, status `resolved`); else the
--     export's `local:` id; for episodes / audiobooks / video without an
--     id in the export, `local:<md5(kind|title|show)>`. One song is one id in every mart downstream.
--   * A listen whose `local:` id resolved takes the names the catalogue (raw.tracks) has for its Spotify track
--     (title, album), as an API play of that track does; other listens keep the names their source gave.
--   * The primary artist comes from the API's item, else from the enriched track's artists (position 0) of the
--     listen's track (after resolution),
--     else, for a music listen known only by name, from the track any source knows under that normalised
--     artist + title (int_track_name_resolutions), else from the one Spotify artist known under that name
--     (int_artist_name_resolutions), else a `local:` id made from the exported artist name.
--   * A scrobble marks the START of a listen and says nothing of how long it lasted. Its `ms_played` is the track's
--     length, first known of: the catalogue (raw.tracks of its Spotify id, or of the one track its normalised
--     artist + title resolves to), the source's own duration, else var `scrobble_default_duration_ms`
--     (`ms_played_estimated` says so); its `played_at` is `started_at` + that, so it lands on the hour it ended
--     like every other listen. Its track id is the Spotify id (ListenBrainz's, else the name resolution's), else
--     `local:<md5(normalised artist|title)>`. Matched to Spotify's listens in int_plays_deduplicated.
with api_plays as (
    select * from {{ ref('stg_spotify_api__plays') }}
),

export_records as (
    select * from {{ ref('stg_spotify_export__records') }}
),

scrobbles as (
    select scrobbles.*, name_keys.name_key
    from {{ ref('stg_scrobbles__listens') }} as scrobbles
    inner join {{ ref('int_scrobble_name_keys') }} as name_keys on scrobbles.scrobble_id = name_keys.scrobble_id
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

-- The scrobble's Spotify track: the one track any source knows under its artist + title (when it has no id).
scrobble_resolutions as (
    select name_key, unambiguous_track_id, artist_id, artist_name
    from {{ ref('int_track_name_resolutions') }}
    where track_id is not null
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
        null::bigint as scrobble_id,
        null as record_key,
        user_id,
        played_at,
        null::timestamptz as started_at,
        track_id,
        content_kind,
        ms_played,
        null::integer as source_duration_ms,
        null as name_key,
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
        null::bigint as scrobble_id,
        record_key,
        user_id,
        played_at,
        null::timestamptz as started_at,
        coalesce(
            track_id,
            nullif(spotify_uri_id, ''),
            'local:' || md5(concat_ws('|', content_kind, lower(coalesce(episode_name, audiobook_chapter_title, track_name)),
                lower(coalesce(show_name, audiobook_title, album_name))))
        ) as track_id,
        content_kind,
        ms_played,
        null::integer as source_duration_ms,
        null as name_key,
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

    union all

    select
        'scrobble' as listen_source,
        scrobble_source as source_format,
        null::bigint as api_play_id,
        null::bigint as export_record_id,
        scrobble_id,
        record_key,
        user_id,
        started_at as played_at,  -- moved to the estimated end below, once the duration is known
        started_at,
        coalesce(track_id, 'local:' || md5(coalesce(name_key, ''))) as track_id,
        'track' as content_kind,
        null::integer as ms_played,
        source_duration_ms,
        name_key,
        null as context_type,
        null as context_uri,
        track_name,
        album_name,
        null as primary_artist_id,
        artist_name as primary_artist_name,
        false as is_incognito,
        null::boolean as skipped,
        ingested_at
    from scrobbles
),

-- The track each listen is of: its own id, else the Spotify track its `local:` id resolved to (by name
-- evidence first, the resolver's search or catalogue match second).
identified as (
    select
        unioned.*,
        coalesce(
            name_resolutions.unambiguous_track_id,
            scrobble_resolutions.unambiguous_track_id,
            resolutions.spotify_track_id,
            unioned.track_id
        ) as listen_track_id,
        resolutions.spotify_track_id as resolved_track_id,
        coalesce(name_resolutions.artist_id, scrobble_resolutions.artist_id) as name_artist_id,
        case
            when name_resolutions.artist_id is not null then name_resolutions.artist_name
            else scrobble_resolutions.artist_name
        end as name_artist_name
    from unioned
    left join resolutions
        on unioned.track_id = resolutions.local_track_id
    left join name_resolutions
        on unioned.export_record_id = name_resolutions.export_record_id
    left join scrobble_resolutions
        on unioned.listen_source = 'scrobble'
        and unioned.track_id like 'local:%'
        and unioned.name_key = scrobble_resolutions.name_key
)

select
    identified.listen_source,
    identified.source_format,
    identified.api_play_id,
    identified.export_record_id,
    identified.scrobble_id,
    -- The source's content key (raw record_key: times, names, format or service; none for API plays): ties between
    -- equally near candidates are broken by it, never by raw ids (import order).
    identified.record_key,
    identified.user_id,
    case
        when identified.listen_source = 'scrobble'
            then identified.started_at
                + {{ scrobble_duration_ms('tracks.duration_ms', 'identified.source_duration_ms') }}
                * interval '1 millisecond'
        else identified.played_at
    end as played_at,
    identified.started_at,
    identified.listen_track_id as track_id,
    identified.resolved_track_id,
    identified.content_kind,
    case
        when identified.listen_source = 'scrobble'
            then {{ scrobble_duration_ms('tracks.duration_ms', 'identified.source_duration_ms') }}
        else identified.ms_played
    end as ms_played,
    identified.listen_source = 'scrobble' as ms_played_estimated,
    -- The track's length in the catalogue (how long a Spotify listen without ms_played may have lasted).
    tracks.duration_ms as catalogue_duration_ms,
    identified.name_key,
    identified.context_type,
    identified.context_uri,
    -- A resolved listen is named as the catalogue names its track (an account export's "Song - 2016 Remaster"
    -- and the API's "Song" are one track, one name).
    case
        when identified.listen_track_id <> identified.track_id then coalesce(tracks.track_name, identified.track_name)
        else coalesce(identified.track_name, tracks.track_name)
    end as track_name,
    case
        when identified.listen_track_id <> identified.track_id then coalesce(tracks.album_name, identified.album_name)
        else coalesce(identified.album_name, tracks.album_name)
    end as album_name,
    coalesce(
        identified.primary_artist_id,
        primary_artists.artist_id,
        identified.name_artist_id,
        artist_name_resolutions.artist_id,
        case when identified.content_kind = 'track' then {{ local_artist_id('identified.primary_artist_name') }} end
    ) as primary_artist_id,
    case
        when identified.listen_track_id <> identified.track_id and primary_artists.artist_name is not null
            then primary_artists.artist_name
        else coalesce(
            identified.primary_artist_name,
            primary_artists.artist_name,
            case when identified.name_artist_id is not null then identified.name_artist_name end
        )
    end as primary_artist_name,
    identified.is_incognito,
    identified.skipped,
    identified.ingested_at
from identified
left join tracks
    on identified.listen_track_id = tracks.track_id
left join primary_artists
    on identified.listen_track_id = primary_artists.track_id
left join artist_name_resolutions
    on identified.listen_source in ('import_zip', 'scrobble')
    and identified.content_kind = 'track'
    and lower(identified.primary_artist_name) = artist_name_resolutions.artist_key
