{#- Taste clusters per user and standard window (last_90_days, last_365_days, all_time), k-means over the
    user's artists (transform/clusters.py: feature set, k by silhouette, labels).
    A view over ml.taste_clusters (its primary key (user_id, window_name, cluster_id) serves the tools' lookups):
    the cluster step's write is in the mart as soon as it commits; the dbt step after it only recreates the view
    and runs its tests on the rows just written (a table had to be rebuilt after every cluster step). -#}
{{ config(materialized='view') }}

select * from {{ ref('stg_ml__taste_clusters') }}
