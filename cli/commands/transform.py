"""`spotify-mcp transform [--full-refresh] [--json]`: rebuild the warehouse now, showing how far it got.

Progress goes to stderr (one line redrawn on a terminal; a line per quarter of each step elsewhere), then a
summary for a person on stdout: how long, users and plays, models and marts built, tests, clusters, the slowest
steps. `--json` prints one JSON object instead (for scripts). Events still reach app.logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from cli.database import database_url
from core.log import configure_logging
from core.settings import load_settings
from transform.figures import WarehouseFigures, warehouse_figures
from transform.process import EXIT_CODES, interrupt_on_signals
from transform.progress import STEP_TITLES, TransformEvent

if TYPE_CHECKING:
    from transform.runner import TransformOutcome

BAR_WIDTH = 24
QUARTERS = (25, 50, 75)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from the raw tables (after changing a rule var or a user's time zone)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait this long for a transform another process is running (default: 600)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (status, stats), no progress")


@dataclass
class _Timing:
    name: str
    seconds: float


@dataclass
class ProgressView:
    """Shows TransformEvents as they come (from dbt's threads too), and remembers what the summary needs.

    On a terminal one line is redrawn (also every half second by `tick`, so the long quiet start of dbt — reading
    the project — still shows time passing); elsewhere a line per step and per quarter of it."""

    stream: TextIO
    tty: bool
    models: int = 0
    marts: int = 0
    tests: int = 0
    failed: list[str] = field(default_factory=list)
    steps: list[_Timing] = field(default_factory=list)
    slow_models: list[_Timing] = field(default_factory=list)
    _title: str | None = None
    _done: int = 0
    _total: int = 0
    _running: dict[str, float] = field(default_factory=dict)
    _step_started: float = 0.0
    _quarter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: TransformEvent) -> None:
        with self._lock:
            self._handle(event, time.monotonic())

    def tick(self) -> None:
        """Redraw the live line (a terminal only)."""
        with self._lock:
            if self.tty and self._title is not None:
                self._line(self._status(time.monotonic()), final=False)

    def _handle(self, event: TransformEvent, now: float) -> None:
        title = STEP_TITLES[event.step]
        if event.kind == "step_started":
            self._title, self._done, self._total = title, 0, 0
            self._step_started, self._quarter, self._running = now, 0, {}
            if not self.tty:
                self._line(f"{title}…", final=True)
        elif event.kind == "step_finished":
            seconds = event.seconds if event.seconds is not None else now - self._step_started
            self.steps.append(_Timing(title, seconds))
            self._title = None
            steps = f"{self._done} steps " if self._done else ""
            self._line(f"{title}: {steps}done in {seconds:.1f}s", final=True)
        elif event.node:
            self._done, self._total = event.done, max(event.total, event.done)
            if event.kind == "node_started":
                self._running[event.node] = now
            else:
                self._running.pop(event.node, None)
                self._count(event)
                self._quarters(title)
        if self.tty and self._title is not None:
            self._line(self._status(now), final=False)

    def _count(self, event: TransformEvent) -> None:
        if event.status in {"error", "fail", "runtime error"}:
            self.failed.append(event.node or "?")
        elif event.resource_type == "model" and event.status != "skipped":
            self.models += 1
            self.marts += event.schema == "marts"
            self.slow_models.append(_Timing(event.node or "?", event.seconds or 0.0))
        elif event.resource_type in {"test", "unit_test"}:
            self.tests += 1

    def _status(self, now: float) -> str:
        elapsed = f"{now - self._step_started:.0f}s"
        if not self._total:
            return f"{self._title}… {elapsed} (reading the project)"
        filled = self._done * BAR_WIDTH // self._total
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        oldest = min(self._running.items(), key=lambda item: item[1], default=None)
        doing = f" · {oldest[0]} ({now - oldest[1]:.0f}s)" if oldest else ""
        return f"{self._title} |{bar}| {self._done}/{self._total} · {elapsed}{doing}"

    def _quarters(self, title: str) -> None:
        if self.tty or not self._total:
            return
        percent = self._done * 100 // self._total
        while self._quarter < len(QUARTERS) and percent >= QUARTERS[self._quarter]:
            self._line(f"{title}: {self._done}/{self._total} ({QUARTERS[self._quarter]}%)", final=True)
            self._quarter += 1

    def _line(self, text: str, *, final: bool) -> None:
        if self.tty:
            if not final:  # a live line that wraps can no longer be redrawn in place
                text = text[: shutil.get_terminal_size().columns - 1]
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def summary(outcome: TransformOutcome, view: ProgressView, figures: WarehouseFigures | None, full: bool) -> str:
    """What a person wants to know when the build ends."""
    if outcome.status == "skipped":
        return "Another transform was running and did not finish in time; nothing was done (try again later)."
    run = f"; job run #{outcome.job_run_id}" if outcome.job_run_id else ""
    if outcome.status == "interrupted":
        return f"Transform interrupted after {outcome.seconds:.1f}s{run}; the next run redoes its work."
    if not outcome.ok:
        failed = f" Failed: {', '.join(view.failed[:5])}." if view.failed else ""
        return (
            f"Warehouse build failed after {outcome.seconds:.1f}s{run}: {outcome.error}.{failed}\n"
            "The error is in admin UI → Jobs (and app.logs); the last good warehouse is still served."
        )
    kind = "full refresh" if full or outcome.stats.get("full_refresh") else "only what changed"
    if not full and outcome.stats.get("full_refresh_reason"):  # by itself (transform.warehouse_version): say why
        kind += f", as {outcome.stats['full_refresh_reason']}"
    lines = [f"Warehouse built in {outcome.seconds:.1f}s ({kind}{run})"]
    if outcome.status == "partial":
        lines.append(f"  Partly: {outcome.error}")
    if figures is not None:
        span = (
            f" from {figures.first_day:%Y-%m-%d} to {figures.last_day:%Y-%m-%d}"
            if figures.first_day and figures.last_day
            else ""
        )
        users = f"{figures.users:,} user{'s' if figures.users != 1 else ''}"
        lines.append(f"  {users} · {figures.plays:,} plays ({figures.listens:,} listens with skips){span}")
    built = f"  {view.models} models built ({view.marts} marts) · {view.tests} tests passed"
    lines.append(built + (f" · {figures.clusters:,} taste clusters" if figures is not None else ""))
    timing = " · ".join(f"{step.name} {step.seconds:.1f}s" for step in view.steps)
    slowest = max(view.slow_models, key=lambda model: model.seconds, default=None)
    if slowest is not None:
        timing += f"; slowest model {slowest.name} {slowest.seconds:.1f}s"
    if timing:
        lines.append(f"  time: {timing}")
    return "\n".join(lines)


@contextmanager
def ticking(view: ProgressView) -> Iterator[None]:
    """Redraw the live line every half second while the build runs (a terminal only)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            view.tick()

    ticker = threading.Thread(target=loop, name="transform-progress", daemon=True)
    if view.tty:
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if view.tty:
            ticker.join(timeout=2)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not args.json:
        print("Building the warehouse (dbt, then taste clusters)…", file=sys.stderr, flush=True)
    from transform.runner import run_transform  # loads dbt (seconds): only when the command runs

    view = ProgressView(sys.stderr, tty=sys.stderr.isatty())
    figures: WarehouseFigures | None = None
    with database_url(settings) as url:
        # Events go to app.logs (failures included); the terminal gets the progress and the summary.
        sink = configure_logging("transform", level=settings.log_level, database_url=url)
        root = logging.getLogger()
        for handler in root.handlers:
            if handler is not sink:
                handler.setLevel(logging.CRITICAL + 1)
        try:
            # Ctrl-C or SIGTERM: the run is recorded as interrupted (not left running), then we exit 130.
            # dbt writes its console log (warnings) to sys.stdout as it is when each command starts: send it to
            # stderr, so stdout holds only the summary, or the one JSON object of `--json`.
            with (
                interrupt_on_signals() as stop,
                ticking(view) if not args.json else nullcontext(),
                redirect_stdout(sys.stderr),
            ):
                outcome = run_transform(
                    url,
                    full_refresh=args.full_refresh,
                    wait_seconds=args.wait,
                    progress=None if args.json else view,
                    stop=stop,
                )
            if outcome.status in ("success", "partial") and not args.json:
                figures = warehouse_figures(url)
        except KeyboardInterrupt:  # before the run had a job run row, or while it recorded one
            print("Transform interrupted; the next run redoes its work.", file=sys.stderr)
            return EXIT_CODES["interrupted"]
        finally:
            if sink is not None:
                root.removeHandler(sink)
                sink.close()
    if args.json:
        body = {"status": outcome.status, "job_run_id": outcome.job_run_id, "seconds": round(outcome.seconds, 2)}
        print(json.dumps(body | {"error": outcome.error, "stats": outcome.stats}, default=str))
    else:
        print(summary(outcome, view, figures, args.full_refresh), file=sys.stdout if outcome.ok else sys.stderr)
    if outcome.status in ("interrupted", "partial"):
        return EXIT_CODES[outcome.status]
    return 0 if outcome.ok else 1
