{#- A recap's ranked figures, precomputed: per user and local calendar year (year_start, 1 January), and once for
    all time (year_start null), the figures `core.marts.rankings.window_summary` computes from a window's per-track
    totals — plays, unique tracks and artists, tracks played once, most plays of one track, plays of the 10 most
    played tracks — and the top 20 (history.recap's largest `limit`) tracks, artists and albums
    in its order, by id (named when read: names follow the dimensions). Albums group tracks as its ALBUMS does and
    keep their tracks' (track_id, artist_id) pairs, from which the reader takes the album's name and artist.
    A year's per-track totals are its agg_yearly_track_plays rows summed per track; all time is agg_track_totals.
    Years (and users) without a play have no row. Read by history.recap for a calendar year (this year so far when
    no data lies after it) and for all time: one indexed row instead of ~35,000 per-track rows.
    Incremental: a run recomputes the (user, year)s of its changed plays and the all-time row of their users
    (macros/story_changes.sql). The album grouping is dim_tracks' when the year was last recomputed: a track's
    album id or name changes when its metadata lands, which re-transforms its plays (macros/changed_listens.sql),
    so its years are recomputed in the same run. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_story_rows('recap') }}"],
        indexes=[
            {'columns': ['user_id', 'year_start']},
        ]
    )
}}
-- depends_on: {{ ref('fct_plays') }} (the changed plays name what a run recomputes)

{#- history.recap's largest `limit`; the reader's core/marts/recap.py STORED_TOP_ITEMS. #}
{%- set top = 20 %}

with tracks as (
    select user_id, year_start, track_id, max(primary_artist_id) as artist_id, sum(plays)::bigint as plays,
           sum(ms_played)::bigint as ms, max(transformed_at) as transformed_at
    from {{ ref('agg_yearly_track_plays') }}
    {%- if is_incremental() %}
    where (user_id, year_start) in ({{ story_changed_years_sql() }})
    {%- endif %}
    group by user_id, year_start, track_id
    having sum(plays) > 0
    union all
    select user_id, null::date, track_id, primary_artist_id, plays, ms_played, transformed_at
    from {{ ref('agg_track_totals') }}
    where plays > 0
    {%- if is_incremental() %}
        and user_id in ({{ story_changed_users_sql() }})
    {%- endif %}
),

ranked_tracks as (
    select *,
           row_number() over (partition by user_id, year_start order by plays desc, ms desc, track_id) as rank
    from tracks
),

artists as (
    select user_id, year_start, artist_id, sum(plays)::bigint as plays, sum(ms)::bigint as ms,
           row_number() over (
               partition by user_id, year_start order by sum(plays) desc, sum(ms) desc, artist_id
           ) as rank
    from tracks
    where artist_id is not null
    group by user_id, year_start, artist_id
),

albums as (
    select tracks.user_id, tracks.year_start, min(dim.album_name) as album, sum(tracks.plays)::bigint as plays,
           sum(tracks.ms)::bigint as ms, count(*)::bigint as tracks,
           array_agg(tracks.track_id order by tracks.track_id) as track_ids,
           array_agg(tracks.artist_id order by tracks.track_id) as artist_ids,
           row_number() over (
               partition by tracks.user_id, tracks.year_start
               order by sum(tracks.plays) desc, sum(tracks.ms) desc, min(dim.album_name)
           ) as rank
    from tracks
    inner join {{ ref('dim_tracks') }} as dim on tracks.track_id = dim.track_id
    where dim.album_name is not null and dim.album_name <> ''
    group by tracks.user_id, tracks.year_start,
             coalesce(dim.album_id, dim.album_name || '|' || coalesce(tracks.artist_id, ''))
),

figures as (
    select user_id, year_start,
           sum(plays)::bigint as plays,
           count(*)::bigint as unique_tracks,
           (count(*) filter (where plays = 1))::bigint as tracks_played_once,
           max(plays)::bigint as max_plays_single_track,
           (coalesce(sum(plays) filter (where rank <= 10), 0))::bigint as top10_plays,
           jsonb_agg(
               jsonb_build_object('track_id', track_id, 'artist_id', artist_id, 'plays', plays, 'ms', ms)
               order by rank
           ) filter (where rank <= {{ top }}) as top_tracks,
           max(transformed_at) as transformed_at
    from ranked_tracks
    group by user_id, year_start
),

artist_figures as (
    select user_id, year_start, count(*)::bigint as unique_artists,
           jsonb_agg(
               jsonb_build_object('artist_id', artist_id, 'plays', plays, 'ms', ms) order by rank
           ) filter (where rank <= {{ top }}) as top_artists
    from artists
    group by user_id, year_start
),

album_figures as (
    select user_id, year_start,
           jsonb_agg(
               jsonb_build_object(
                   'album', album, 'plays', plays, 'ms', ms, 'tracks', tracks, 'track_ids', track_ids,
                   'artist_ids', artist_ids
               ) order by rank
           ) as top_albums
    from albums
    where rank <= {{ top }}
    group by user_id, year_start
)

select
    figures.user_id,
    figures.year_start,
    figures.plays,
    figures.unique_tracks,
    coalesce(artist_figures.unique_artists, 0) as unique_artists,
    figures.tracks_played_once,
    figures.max_plays_single_track,
    figures.top10_plays,
    figures.top_tracks,
    coalesce(artist_figures.top_artists, '[]'::jsonb) as top_artists,
    coalesce(album_figures.top_albums, '[]'::jsonb) as top_albums,
    figures.transformed_at
from figures
left join artist_figures
    on figures.user_id = artist_figures.user_id
    and figures.year_start is not distinct from artist_figures.year_start
left join album_figures
    on figures.user_id = album_figures.user_id
    and figures.year_start is not distinct from album_figures.year_start
