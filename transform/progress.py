"""What a running transform tells whoever watches it (the `transform` command's progress line).

The runner emits `TransformEvent`s through an optional callback: a step starts, dbt starts and finishes each
node (with the number of nodes of the step once dbt knows it), a step finishes. dbt's own events are turned into
ours by `dbt_callbacks`, so nothing outside this module needs to know dbt's event names. A callback that raises
is logged and ignored: watching never breaks a build.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

logger = logging.getLogger("transform")

type EventKind = Literal["step_started", "node_started", "node_finished", "step_finished"]
type Step = Literal["dbt", "clusters", "dbt_downstream"]

STEP_TITLES: Final[dict[str, str]] = {
    "dbt": "dbt build",
    "clusters": "taste clusters",
    "dbt_downstream": "cluster marts",
}


@dataclass(frozen=True, slots=True)
class TransformEvent:
    kind: EventKind
    step: Step
    done: int = 0  # nodes of the step finished so far
    total: int = 0  # nodes dbt runs in the step (0 until dbt says)
    node: str | None = None  # the node's name, e.g. "int_plays_deduplicated"
    resource_type: str | None = None  # model, test, unit_test, …
    schema: str | None = None  # where a model is built (staging, intermediate, marts)
    status: str | None = None  # a finished node's status: success, pass, error, fail, …
    seconds: float | None = None  # a finished node's (or step's) duration


type ProgressCallback = Callable[[TransformEvent], None]


def emit(progress: ProgressCallback | None, event: TransformEvent) -> None:
    if progress is None:
        return
    try:
        progress(event)
    except Exception:  # a broken watcher must not break the build
        logger.warning("transform progress callback failed", exc_info=True)


class _DbtEvents:
    """A dbt event callback (dbtRunner(callbacks=[…])) that emits our events; dbt calls it from its threads."""

    def __init__(self, step: Step, progress: ProgressCallback) -> None:
        self.step: Step = step
        self.progress = progress
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()

    def __call__(self, message: Any) -> None:
        name = message.info.name
        if name not in {"LogStartLine", "NodeFinished"}:
            return
        data = message.data
        info = data.node_info
        node, resource_type, schema = str(info.node_name), str(info.resource_type), str(info.node_relation.schema)
        with self._lock:
            if name == "LogStartLine":
                self.total = max(self.total, int(data.total))
                event = TransformEvent(
                    "node_started", self.step, self.done, self.total, node, resource_type, schema or None
                )
            else:
                self.done += 1
                result = data.run_result
                event = TransformEvent(
                    "node_finished",
                    self.step,
                    self.done,
                    max(self.total, self.done),
                    node,
                    resource_type,
                    schema or None,
                    status=str(result.status or info.node_status),
                    seconds=float(result.execution_time or 0.0),
                )
        emit(self.progress, event)


def dbt_callbacks(step: Step, progress: ProgressCallback | None) -> list[Callable[[Any], None]]:
    """The callbacks to give dbt for one step (none when nobody watches)."""
    return [] if progress is None else [_DbtEvents(step, progress)]
