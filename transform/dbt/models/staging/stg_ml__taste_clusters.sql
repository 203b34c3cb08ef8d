-- Taste clusters as the cluster step wrote them (transform/clusters.py).
with source as (
    select * from {{ source('ml', 'taste_clusters') }}
)

select
    user_id,
    window_name,
    window_start,
    window_end,
    cluster_id,
    label,
    share_of_plays,
    plays,
    top_artists,
    top_tracks,
    distinguishing,
    feature_set,
    k,
    quality_score,
    computed_at
from source
