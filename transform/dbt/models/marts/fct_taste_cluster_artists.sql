{#- Every clustered artist of a user and standard window with its cluster (transform/clusters.py): the join key
    for a cluster's share over time and a period's mix of clusters. A view over ml.taste_cluster_artists (primary
    key (user_id, window_name, artist_id)), as fct_taste_clusters. -#}
{{ config(materialized='view') }}

select * from {{ ref('stg_ml__taste_cluster_artists') }}
