{#- Artists of each track with their position (0 = primary). Tracks whose artists the API has not listed yet
    get their primary artist from the plays (position 0). -#}
{{
    config(
        indexes=[
            {'columns': ['track_id', 'artist_id'], 'unique': True},
            {'columns': ['artist_id']},
        ]
    )
}}

with listed as (
    select track_id, artist_id, position
    from {{ ref('stg_spotify_api__track_artists') }}
),

from_plays as (
    select track_id, primary_artist_id as artist_id, 0 as position
    from {{ ref('int_tracks_played') }}
    where primary_artist_id is not null
        and content_kind = 'track'
        and track_id not in (select track_id from listed)
)

select track_id, artist_id, position from listed
union all
select track_id, artist_id, position from from_plays
