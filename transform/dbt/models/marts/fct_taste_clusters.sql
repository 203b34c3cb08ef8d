{#- Taste clusters per user and standard window (last_90_days, last_365_days, all_time), k-means over the
    user's artists (transform/clusters.py: feature set, k by silhouette, labels). -#}
{{ config(indexes=[{'columns': ['user_id', 'window_name', 'cluster_id'], 'unique': True}]) }}

select * from {{ ref('stg_ml__taste_clusters') }}
