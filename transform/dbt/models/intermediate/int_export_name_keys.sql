{#- The normalised "artist|title" of every exported music listen without a Spotify id (account-data records,
    extended records without a URI): macros/name_keys.sql. -#}
{{ name_keys_per_record(
    'stg_spotify_export__records',
    'export_record_id',
    'played_at',
    filter="content_kind = 'track'
    and coalesce(track_id, 'local:') like 'local:%'
    and coalesce(spotify_uri_id, '') = ''
    and track_name is not null"
) }}
