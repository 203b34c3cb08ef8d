"""What a taste cluster is (the columns of ml.taste_clusters), the standard windows and the tuning constants."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

import numpy as np
import numpy.typing as npt

type FeatureSet = Literal["audio_features", "genres", "behaviour"]
type WindowName = str
type FloatMatrix = npt.NDArray[np.float64]

ML_SCHEMA: Final = "ml"
STANDARD_WINDOWS: Final[dict[str, timedelta | None]] = {
    "last_90_days": timedelta(days=90),
    "last_365_days": timedelta(days=365),
    "all_time": None,
}
K_RANGE: Final = range(3, 7)
MIN_FEATURE_COVERAGE: Final = 0.5
MAX_FIT_ARTISTS: Final = 400
SESSION_GAP_SECONDS: Final = 30 * 60
RANDOM_STATE: Final = 0
TOP_N: Final = 5
AUDIO_COLUMNS: Final = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "tempo",
    "loudness",
)
# Day parts by local hour (the heatmap's time zone).
DAY_PARTS: Final = (
    ("night", range(0, 5)),
    ("morning", range(5, 10)),
    ("midday", range(10, 14)),
    ("afternoon", range(14, 18)),
    ("evening", range(18, 22)),
    ("late night", range(22, 24)),
)


@dataclass(frozen=True, slots=True)
class TasteCluster:
    """One cluster of one user's taste in one window (the columns of ml.taste_clusters)."""

    user_id: UUID
    window_name: str
    window_start: datetime
    window_end: datetime
    cluster_id: int
    label: str
    share_of_plays: float
    plays: int
    top_artists: list[dict[str, Any]]
    top_tracks: list[dict[str, Any]]
    distinguishing: dict[str, str]
    feature_set: FeatureSet
    k: int
    quality_score: float
    computed_at: datetime
    # Every artist of the cluster with its plays in the window (ml.taste_cluster_artists): what lets the
    # dashboards show a cluster's share over time and a year's mix of clusters.
    member_plays: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_uuid(user_id: UUID | str) -> UUID:
    return user_id if isinstance(user_id, UUID) else UUID(str(user_id))


def to_json(clusters: Sequence[TasteCluster]) -> str:
    """Clusters as JSON (datetimes ISO-8601)."""
    return json.dumps([cluster.as_dict() for cluster in clusters], default=str)
