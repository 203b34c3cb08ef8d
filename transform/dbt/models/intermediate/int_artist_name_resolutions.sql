{#- The Spotify artist a name-only artist stands for: `artist_key` is lower(name), the key of the `local:` artist
    ids (macros/rules.sql local_artist_id), and it resolves when exactly one Spotify artist id carries that name
    in any source (artists described by the API, artists listed on tracks, API plays of any user). A name two
    Spotify artists share stays unresolved (its listens keep their `local:` artist), so homonyms are never
    merged by guesswork.

    This is the fallback after the (artist, title) mapping of int_track_name_resolutions: it makes one artist
    one row even for a track no source has an id for, when another track of the artist is known.

    Incremental like int_track_name_resolutions: only keys whose answer changed are written, stamped
    `changed_at`, with the artist they resolved to before (`previous_artist_id`), so that int_plays_deduplicated
    recomputes the listens that carried either id (macros/changed_listens.sql). -#}
{{
    config(
        materialized='incremental',
        unique_key='artist_key',
        incremental_strategy='delete+insert',
        indexes=[
            {'columns': ['artist_key'], 'unique': True},
            {'columns': ['changed_at']},
        ],
    )
}}

with named_artists as (
    select artist_id, artist_name from {{ ref('stg_spotify_api__artists') }}
    union
    select artist_id, artist_name
    from {{ ref('int_name_evidence') }}
    where artist_id <> ''
),

resolved as (
    select
        lower(artist_name) as artist_key,
        min(artist_id) as artist_id,
        min(artist_name) as artist_name
    from named_artists
    where artist_name is not null and artist_id is not null
    group by lower(artist_name)
    having count(distinct artist_id) = 1
)

{% if is_incremental() %}
select
    resolved.artist_key,
    resolved.artist_id,
    resolved.artist_name,
    stored.artist_id as previous_artist_id,
    now() as changed_at
from resolved
left join {{ this }} as stored on resolved.artist_key = stored.artist_key
where stored.artist_key is null
    or (stored.artist_id, stored.artist_name) is distinct from (resolved.artist_id, resolved.artist_name)
union all
select stored.artist_key, null, null, stored.artist_id, now()
from {{ this }} as stored
where stored.artist_id is not null
    and not exists (select from resolved where resolved.artist_key = stored.artist_key)
{% else %}
select artist_key, artist_id, artist_name, null::text as previous_artist_id, now() as changed_at
from resolved
{% endif %}
