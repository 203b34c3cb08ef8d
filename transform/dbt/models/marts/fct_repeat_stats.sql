{#- All-time repeat behaviour per user (music, plays by the play rule):
    repeat_rate = 1 − unique_tracks / plays; top10_share = share of plays by the 10 most played tracks. -#}
{{ config(indexes=[{'columns': ['user_id'], 'unique': True}]) }}

with track_totals as (
    select user_id, track_id, plays
    from {{ ref('agg_track_totals') }}
    where plays > 0
),

ranked as (
    select *, row_number() over (partition by user_id order by plays desc, track_id) as play_rank
    from track_totals
)

select
    user_id,
    sum(plays)::bigint as plays,
    count(*)::bigint as unique_tracks,
    (1 - count(*)::numeric / sum(plays))::double precision as repeat_rate,
    (sum(plays) filter (where play_rank <= 10) / sum(plays))::double precision as top10_share,
    count(*) filter (where plays = 1)::bigint as tracks_played_once,
    max(plays)::bigint as max_plays_single_track
from ranked
group by user_id
