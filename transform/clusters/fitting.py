"""Fitting: k-means over the feature matrix, k chosen in 3–6 by the highest silhouette (ties → smaller k)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from transform.clusters.features import Features, audio_features, behaviour_features, genre_features
from transform.clusters.model import K_RANGE, MAX_FIT_ARTISTS, RANDOM_STATE, FloatMatrix
from transform.clusters.source import Window


def choose_k(matrix: FloatMatrix, weights: FloatMatrix) -> tuple[int, npt.NDArray[np.int64], KMeans, float]:
    best: tuple[int, npt.NDArray[np.int64], KMeans, float] | None = None
    distinct = len(np.unique(matrix.round(9), axis=0))
    for k in K_RANGE:
        if k >= min(len(matrix), distinct):
            break
        model = KMeans(n_clusters=k, random_state=RANDOM_STATE, n_init=4).fit(matrix, sample_weight=weights)
        labels = np.asarray(model.labels_, dtype=np.int64)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette_score(matrix, labels))
        if best is None or score > best[3] + 1e-9:
            best = (k, labels, model, score)
    if best is None:
        raise NotEnoughData
    return best


class NotEnoughData(Exception):
    pass


# k-means, the silhouette and the SVD run on a few hundred artists, where OpenMP/BLAS threads cost more than
# they bring (several times the single-threaded time on a busy 2-core machine). The limit is process-wide, so
# computations take turns inside it (the lock); the reading before it runs concurrently.
_numeric_lock = threading.Lock()
_threadpools: ThreadpoolController | None = None


@contextmanager
def single_threaded() -> Iterator[None]:
    global _threadpools
    with _numeric_lock:
        if _threadpools is None:
            _threadpools = ThreadpoolController()
        with _threadpools.limit(limits=1):
            yield


@dataclass(frozen=True, slots=True)
class Fit:
    """A window's artists clustered: the features used, the chosen k and each artist's cluster."""

    features: Features
    k: int
    assigned: npt.NDArray[np.int64]  # the cluster of each of features.artist_ids, in that order
    score: float  # the silhouette score of the chosen k


def fit_window(window: Window, artist_plays: pl.DataFrame, audio: pl.DataFrame, genres: pl.DataFrame) -> Fit | None:
    """Fit k-means on the `MAX_FIT_ARTISTS` most played artists (weighted by plays), choose k by the silhouette,
    and assign every artist with plays to the nearest centre. None when there are too few distinct artists."""
    all_artists = sorted(artist_plays["artist_id"].to_list())
    fit_artists = sorted(artist_plays.head(MAX_FIT_ARTISTS)["artist_id"].to_list())
    with single_threaded():
        features = (
            audio_features(window, audio, all_artists)
            or genre_features(artist_plays, genres, all_artists)
            or behaviour_features(window, all_artists)
        )
        plays_of = dict(artist_plays.iter_rows())
        row_of = {artist: index for index, artist in enumerate(features.artist_ids)}
        fit_rows = np.array([row_of[artist] for artist in fit_artists if artist in row_of], dtype=np.int64)
        if len(fit_rows) < min(K_RANGE) + 1:
            return None
        fit_matrix = features.matrix[fit_rows]
        fit_weights = np.array([float(plays_of[features.artist_ids[row]]) for row in fit_rows], dtype=np.float64)
        try:
            k, _, model, score = choose_k(fit_matrix, fit_weights)
        except NotEnoughData:
            return None
        assigned = np.asarray(model.predict(features.matrix), dtype=np.int64)
    return Fit(features, k, assigned, score)
