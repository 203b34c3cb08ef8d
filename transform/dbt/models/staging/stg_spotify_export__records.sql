-- Export records, renamed and cast. `extra` holds the optional fields only when the import stored them.
with source as (
    select * from {{ source('spotify_export', 'export_records') }}
    -- Rows out of the listen contract stay out of every model (macros/user_isolation.sql).
    where {{ in_listen_contract('played_at', 'ms_played', 'ingested_at') }}
)

select
    id as export_record_id,
    user_id,
    record_key,
    played_at,
    ms_played,
    content_kind,
    source_format,
    track_id,
    spotify_uri,
    split_part(spotify_uri, ':', 3) as spotify_uri_id,
    track_name,
    artist_name,
    album_name,
    episode_name,
    show_name,
    audiobook_title,
    audiobook_chapter_title,
    coalesce(incognito, false) as is_incognito,
    (extra ->> 'skipped')::boolean as skipped,
    extra ->> 'reason_end' as reason_end,
    ingested_at
from source
