-- Cluster memberships as the cluster step wrote them (transform/clusters.py).
with source as (
    select * from {{ source('ml', 'taste_cluster_artists') }}
)

select
    user_id,
    window_name,
    cluster_id,
    artist_id,
    plays
from source
