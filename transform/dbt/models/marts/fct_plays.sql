{#- The seed spec's `plays`: one row per real listen, after cross-source dedupe, with the play rule applied.
    A view over intermediate.int_plays_deduplicated (an incremental table carrying the indexes tools use:
    (user_id, played_at), (user_id, primary_artist_id), (user_id, track_id), unique play_id), so the play
    rule (`min_play_ms`) and `include_incognito` take effect without a rebuild. -#}
{{ config(materialized='view') }}

with plays as (
    select * from {{ ref('int_plays_deduplicated') }}
)

select
    play_id,
    user_id,
    played_at,
    track_id,
    content_kind,
    ms_played,
    {{ counts_as_play('ms_played') }} as counts_as_play,
    source,
    -- A scrobble alone: ms_played is the track's estimated length (docs/warehouse-contract.md, "Scrobbles").
    ms_played_estimated,
    -- The scrobble services that also recorded this listen (`lastfm`, `listenbrainz`, comma-separated), or null.
    scrobble_sources,
    context_type,
    context_uri,
    track_name,
    album_name,
    primary_artist_id,
    primary_artist_name,
    local_date,
    local_hour,
    local_weekday,
    skipped,
    ingested_at,
    transformed_at
from plays
{%- if not var('include_incognito') %}
where not is_incognito
{%- endif %}
