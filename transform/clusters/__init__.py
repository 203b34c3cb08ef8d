"""Taste clusters: k-means over a user's artists, per time window (issue 5, spec §11).

Unit: the artists of the user's music listens in the window (an artist is the natural "taste" atom and gives
each cluster readable top artists). Every artist with plays in the window gets a cluster; the model is fitted on
the `MAX_FIT_ARTISTS` most played ones (weighted by plays) and the rest are assigned to the nearest centre.

Feature set, the first the data allows:
1. `audio_features` — when at least `MIN_FEATURE_COVERAGE` of the plays have Spotify audio features: the
   play-weighted mean of danceability, energy, valence, acousticness, instrumentalness, speechiness, liveness,
   tempo and loudness per artist.
2. `genres` — when that share of plays is by artists with genres: TF-IDF-weighted genre vectors.
3. `behaviour` — always available: co-listening (artists in the same listening session, gap > 30 min starts a
   new one, embedded by a truncated SVD of the artist × session matrix), the time-of-day and weekday profile,
   repeat intensity (plays per distinct track) and skip rate (listens under the play rule or flagged skipped).

k is chosen in 3–6 by the highest silhouette score (ties → smaller k); that score is the cluster's
`quality_score`. Deterministic: inputs sorted, fixed `random_state`, clusters numbered by plays (desc).

Feature frames come from PostgreSQL through DuckDB's postgres extension (attached read-only) into polars
(DESIGN §4): PostgreSQL filters the window's listens by its index and copies them to DuckDB, which aggregates
them per artist (and per artist and track, and per listening session) so only aggregates reach polars.
`compute_clusters()` computes any window on demand (the API calls it); `refresh_standard_windows()` writes the
three standard windows of every user to `ml.taste_clusters` (and every clustered artist with its cluster to
`ml.taste_cluster_artists`), which dbt exposes as `marts.fct_taste_clusters` and `marts.fct_taste_cluster_artists`.

One module per step: `source` (reading and aggregating), `features`, `fitting` (k-means, choosing k), `naming`
(numbering, top artists and tracks, labels), `compute` (the steps for one window), `marts` (writing `ml.*`),
`refit` (when a routine run fits a user's windows again);
`model` holds the cluster's shape and the constants.
"""

# The package's public API (what the transform runner, the API's on-demand clusters and the warehouse contract
# name as `transform.clusters.…`); the steps live in their modules.
from transform.clusters.compute import compute_clusters, compute_standard_windows
from transform.clusters.marts import ensure_table, refresh_standard_windows, write_clusters
from transform.clusters.model import STANDARD_WINDOWS, TasteCluster, to_json

__all__ = [
    "STANDARD_WINDOWS",
    "TasteCluster",
    "compute_clusters",
    "compute_standard_windows",
    "ensure_table",
    "refresh_standard_windows",
    "to_json",
    "write_clusters",
]
