{#- Every primary artist referenced by plays (incognito ones only when `include_incognito`), with the name its
    latest listen carried, whether an export or ListenBrainz named it (for dim_artists.source) and the MusicBrainz
    artist id a scrobble of it carried (the least when they disagree). Kept incrementally like int_tracks_played,
    so dim_artists covers every fct_plays.primary_artist_id without re-reading every play's names; like it, a run
    after the set of users with plays changed (a user deleted) recomputes every row (macros/played_users.sql), and
    the plays are grouped by artist and name (a hash aggregate) before the latest name is picked. An artist no play
    references any more (a name-only listen resolved to the Spotify artist later, issue 15) is removed after each
    run, so dim_artists never lists one artist twice. -#}
{{
    config(
        materialized='incremental',
        unique_key='artist_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['artist_id'], 'unique': True}],
        post_hook=["{{ delete_unplayed('artist_id', 'primary_artist_id') }}"],
    )
}}

{%- set digest = played_users_digest() %}
{%- set folding = folds_new_plays(digest) %}
-- depends_on: {{ ref('stg_app__users') }} (macros/played_users.sql)

with new_plays as (
    select
        plays.primary_artist_id as artist_id,
        plays.primary_artist_name as artist_name,
        bool_or(plays.source in ('import_zip', 'both')) as seen_in_export,
        bool_or(plays.source = 'listenbrainz' or coalesce(plays.scrobble_sources like '%listenbrainz%', false))
            as seen_in_listenbrainz,
        min(scrobbles.artist_mbid) as artist_mbid,
        max(plays.played_at) as last_played_at,
        max(plays.transformed_at) as transformed_at,
        false as is_stored
    from {{ ref('int_plays_deduplicated') }} as plays
    -- The scrobble the play kept (ListenBrainz's of a pair), for its MusicBrainz id.
    left join {{ ref('stg_scrobbles__listens') }} as scrobbles on plays.scrobble_id = scrobbles.scrobble_id
    where plays.primary_artist_id is not null
    {%- if not var('include_incognito') %}
        and not plays.is_incognito
    {%- endif %}
    {%- if folding %}
        and plays.transformed_at > {{ incremental_watermark('transformed_at') }}
    {%- endif %}
    group by plays.primary_artist_id, plays.primary_artist_name
),

candidates as (
    select * from new_plays
    {%- if folding %}
    union all
    select
        artist_id, artist_name, seen_in_export, seen_in_listenbrainz, artist_mbid, last_played_at, transformed_at,
        true as is_stored
    from {{ this }}
    where artist_id in (select artist_id from new_plays)
    {%- endif %}
)

select distinct on (artist_id)
    artist_id,
    artist_name,
    bool_or(seen_in_export) over (partition by artist_id) as seen_in_export,
    bool_or(seen_in_listenbrainz) over (partition by artist_id) as seen_in_listenbrainz,
    min(artist_mbid) over (partition by artist_id) as artist_mbid,
    max(last_played_at) over (partition by artist_id) as last_played_at,
    max(transformed_at) over (partition by artist_id) as transformed_at,
    '{{ digest }}'::text as played_users_digest
from candidates
order by artist_id, (artist_name is null), is_stored, last_played_at desc
