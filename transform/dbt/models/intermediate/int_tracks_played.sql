{#- Every track (or episode, audiobook chapter, video) that appears in plays (incognito ones only when
    `include_incognito`), with the names its latest listen carried, which sources reported it (the API, an export,
    ListenBrainz; else only Last.fm) and the MusicBrainz recording id a scrobble of it carried (the least, when
    scrobbles disagree, so the import order decides nothing). Kept incrementally: a run folds the plays transformed
    since the last one into the stored row of each of their tracks, and drops tracks no play references any more
    (an account record's `local:` track once the extended record of the same listen absorbed it). A run after the
    set of users with plays changed (a user deleted) recomputes every row instead (macros/played_users.sql).
    The plays are first grouped by track and names (a few rows per track) with a hash aggregate: picking the
    latest named listen then sorts those few thousand rows, not every play (1,000,000 text-keyed rows: ~9 s). -#}
{{
    config(
        materialized='incremental',
        unique_key='track_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['track_id'], 'unique': True}],
        post_hook=["{{ delete_unplayed('track_id', 'track_id') }}", "{{ refresh_last_played() }}"],
    )
}}

{%- set digest = played_users_digest() %}
{%- set folding = folds_new_plays(digest) %}
-- depends_on: {{ ref('stg_app__users') }} (macros/played_users.sql)

with new_plays as (
    select
        plays.track_id,
        plays.content_kind,
        plays.track_name,
        plays.album_name,
        plays.primary_artist_id,
        plays.primary_artist_name,
        bool_or(plays.source in ('spotify_api', 'both')) as seen_in_api,
        bool_or(plays.source in ('import_zip', 'both')) as seen_in_export,
        bool_or(plays.source = 'listenbrainz' or coalesce(plays.scrobble_sources like '%listenbrainz%', false))
            as seen_in_listenbrainz,
        min(scrobbles.recording_mbid) as recording_mbid,
        max(plays.played_at) as last_played_at,
        max(plays.transformed_at) as transformed_at,
        false as is_stored
    from {{ ref('int_plays_deduplicated') }} as plays
    -- The scrobble the play kept (ListenBrainz's of a pair), for its MusicBrainz id.
    left join {{ ref('stg_scrobbles__listens') }} as scrobbles on plays.scrobble_id = scrobbles.scrobble_id
    where true
    {%- if not var('include_incognito') %}
        and not plays.is_incognito
    {%- endif %}
    {%- if folding %}
        and plays.transformed_at > {{ incremental_watermark('transformed_at') }}
    {%- endif %}
    group by
        plays.track_id, plays.content_kind, plays.track_name, plays.album_name, plays.primary_artist_id,
        plays.primary_artist_name
),

{% if folding %}
candidates as (
    select * from new_plays
    union all
    select
        track_id,
        content_kind,
        track_name,
        album_name,
        primary_artist_id,
        primary_artist_name,
        seen_in_api,
        seen_in_export,
        seen_in_listenbrainz,
        recording_mbid,
        last_played_at,
        transformed_at,
        true as is_stored
    from {{ this }}
    where track_id in (select track_id from new_plays)
),
{% else %}
candidates as (
    select * from new_plays
),
{% endif %}

{#- Within a group of new_plays all listens share the names, so its latest listen is the group's max(played_at):
    the row picked here carries the names the latest named listen would. -#}
latest_named as (
    select distinct on (track_id) *
    from candidates
    -- A name first; then a Spotify artist over a `local:` one; then what this run saw over the stored row.
    order by track_id, (track_name is null), (coalesce(primary_artist_id, 'local:') like 'local:%'), is_stored,
        last_played_at desc
),

totals as (
    select
        track_id,
        bool_or(seen_in_api) as seen_in_api,
        bool_or(seen_in_export) as seen_in_export,
        bool_or(seen_in_listenbrainz) as seen_in_listenbrainz,
        min(recording_mbid) as recording_mbid,
        max(last_played_at) as last_played_at,
        max(transformed_at) as transformed_at
    from candidates
    group by track_id
)

select
    latest_named.track_id,
    latest_named.content_kind,
    latest_named.track_name,
    latest_named.album_name,
    latest_named.primary_artist_id,
    latest_named.primary_artist_name,
    totals.seen_in_api,
    totals.seen_in_export,
    totals.seen_in_listenbrainz,
    totals.recording_mbid,
    totals.last_played_at,
    totals.transformed_at,
    '{{ digest }}'::text as played_users_digest
from latest_named
inner join totals on latest_named.track_id = totals.track_id
