{#- The normalised "artist|title" of every scrobble (raw.scrobbles): how a scrobble is matched to the same listen
    from Spotify or the other scrobble service, and resolved to a Spotify track and artist like a name-only export
    record (macros/name_keys.sql). -#}
{{ name_keys_per_record('stg_scrobbles__listens', 'scrobble_id', 'started_at') }}
