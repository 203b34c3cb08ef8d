"""The console of `up`: one readable stream — what started, where to go, what went wrong — without the servers'
start/stop chatter, blank lines or the resource tracker's warning after a killed child."""

from __future__ import annotations

import json

from cli.supervisor import readable


def _event(message: str, level: str = "info") -> str:
    return json.dumps({"timestamp": "2026-12-07T10:57:24.1+00:00", "level": level, "message": message})


NOISE = [
    _event("Started server process [26230]"),
    _event("Waiting for application startup."),
    _event("Application startup complete."),
    _event("Uvicorn running on http://127.0.0.1:8001 (Press CTRL+C to quit)"),
    _event("StreamableHTTP session manager started"),
    _event("Shutting down"),
    _event("Waiting for application shutdown."),
    _event("Application shutdown complete."),
    _event("Finished server process [26230]"),
    "",
    "   ",
    "  Stopping...",
    "  You can now view your Streamlit app in your browser.",
    "2026-12-07 10:57:26.365 Uvicorn server started on 127.0.0.1:8501",
    "/usr/lib/python3.14/multiprocessing/resource_tracker.py:475: UserWarning: resource_tracker: There appear to be "
    "2 leaked semaphore objects to clean up at shutdown: {'/mp-62l_tasv', '/mp-83u2xqby'}",
    "  warnings.warn(",
]


def test_chatter_blank_lines_and_tracker_warnings_are_left_out() -> None:
    assert [line for line in NOISE if readable("api", line) is not None] == []


def test_what_happened_and_what_went_wrong_stay() -> None:
    kept = [
        readable("collector", _event("import job 2 finished: 4840 records read")),
        readable("collector", _event("transform finished")),
        readable("api", _event("Shutting down", level="warning")),  # anything not routine is shown
        readable("api", _event("database unreachable", level="error")),
        readable("dashboards", "Traceback (most recent call last):"),
    ]
    assert kept == [
        "10:57:24 collector  info    import job 2 finished: 4840 records read",
        "10:57:24 collector  info    transform finished",
        "10:57:24 api        warning Shutting down",
        "10:57:24 api        error   database unreachable",
        "dashboards | Traceback (most recent call last):",
    ]
