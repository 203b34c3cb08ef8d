"""Admin UI pieces without servers: the server-side sessions, the sign-in back-off, login checks, the proxy's
cookie filter, filters, and the admin API's value sets staying equal to the database's."""

from __future__ import annotations

import typing

import pytest

from core import tables
from core.settings import Settings
from serve.admin_ui import session
from serve.admin_ui.figures import import_stage
from serve.admin_ui.formatting import fmt_bytes, fmt_duration, fmt_time, percent
from serve.admin_ui.proxy import _forward_cookies
from serve.api.routes import admin
from serve.throttle import FREE_FAILURES, FailureThrottle


def _settings(**values: str) -> Settings:
    base: dict[str, object] = {"token_encryption_key": [], "database_url": None}
    return Settings.model_validate(base | values)


def test_sessions_are_server_side_and_end_at_logout_or_expiry() -> None:
    now = [1_000.0]
    store = session.SessionStore(clock=lambda: now[0])
    cookie, issued = store.create("admin")
    assert store.get(cookie) == issued and len(cookie) >= 40
    other, second = store.create("admin")
    assert second.csrf_token != issued.csrf_token and other != cookie
    for junk in (None, "", "a", cookie[:-1], cookie + "x", "x" * 10_000):
        assert store.get(junk) is None
    store.revoke(cookie)
    assert store.get(cookie) is None and store.get(other) == second  # logout ends that session only
    now[0] += session.SESSION_LIFETIME_SECONDS
    assert store.get(other) is None and len(store) == 0


def test_failed_sign_ins_back_off_per_address() -> None:
    now = [0.0]
    throttle = FailureThrottle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        assert throttle.wait_seconds("203.0.113.1") == 0
        throttle.failed("203.0.113.1")
    waits = []
    for _ in range(12):
        wait = throttle.wait_seconds("203.0.113.1")
        waits.append(wait)
        now[0] += wait
        throttle.failed("203.0.113.1")
    assert waits[:5] == [2, 4, 8, 16, 32] and max(waits) == 900  # doubling, capped at 15 minutes
    assert throttle.wait_seconds("198.51.100.1") == 0  # another address is not slowed
    throttle.succeeded("203.0.113.1")
    assert throttle.wait_seconds("203.0.113.1") == 0
    throttle.failed("192.0.2.1")
    now[0] += 3601
    assert throttle.wait_seconds("192.0.2.1") == 0  # a quiet hour forgets


def test_login_per_frontend_auth_mode() -> None:
    token_mode = _settings(admin_token="right-token")
    assert session.check_login(token_mode, token="right-token", username=None, password=None)
    assert not session.check_login(token_mode, token="right-tokem", username=None, password=None)
    assert not session.check_login(token_mode, token="", username=None, password=None)
    basic = _settings(admin_auth_mode="basic", admin_password="pw", admin_token="right-token")
    assert session.check_login(basic, token=None, username="admin", password="pw")
    assert not session.check_login(basic, token="right-token", username=None, password=None)
    assert not session.check_login(basic, token=None, username="admin", password="pW")
    mirrored = _settings(admin_auth_mode="basic", admin_password="pw", frontend_auth_mode="token", admin_token="t")
    assert session.check_login(mirrored, token="t", username=None, password=None)


def test_proxy_never_forwards_the_admin_session() -> None:
    raw = f"{session.COOKIE_NAME}=secret.value; _streamlit_xsrf=2|abc; other=1"
    assert _forward_cookies(raw) == "_streamlit_xsrf=2|abc; other=1"
    assert _forward_cookies(f"{session.COOKIE_NAME}=x") is None
    assert _forward_cookies(None) is None


def test_template_filters() -> None:
    assert fmt_time("2026-11-24T02:10:00Z") == "2026-11-24 02:10 UTC"
    assert fmt_time("2026-11-24T03:10:00+01:00") == "2026-11-24 02:10 UTC"
    assert fmt_time(None) == "—" and fmt_time("garbage") == "—"
    assert fmt_bytes(512) == "512 B" and fmt_bytes(1536) == "1.5 KB" and fmt_bytes(None) == "—"
    assert fmt_duration(12.34) == "12.3 s" and fmt_duration(90) == "1.5 min" and fmt_duration(7200) == "2.0 h"
    assert percent(0.255) == 26 and percent(None) == 0 and percent(1.7) == 100


@pytest.mark.parametrize(
    ("alias", "values"),
    [
        (admin.UserStatus, tables.USER_STATUSES),
        (admin.JobType, tables.JOB_TYPES),
        (admin.JobStatus, tables.JOB_STATUSES),
        (admin.ImportStatus, tables.IMPORT_STATUSES),
        (admin.LogService, tables.LOG_SERVICES),
        (admin.LogLevel, tables.LOG_LEVELS),
    ],
)
def test_admin_filters_mirror_the_database_value_sets(alias: typing.TypeAliasType, values: tuple[str, ...]) -> None:
    assert typing.get_args(alias.__value__) == values


def test_streamlit_runs_behind_the_proxy_path_on_loopback() -> None:
    from cli.commands.dashboards import APP, streamlit_argv
    from serve.admin_ui.proxy import PROXY_PREFIX

    argv = streamlit_argv("127.0.0.1", 8599)
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert argv[2:5] == ["streamlit", "run", str(APP)] and APP.exists()
    assert "/" + options["--server.baseUrlPath"] == PROXY_PREFIX
    assert options["--server.address"] == "127.0.0.1" and options["--server.port"] == "8599"
    assert options["--server.headless"] == "true" and options["--browser.gatherUsageStats"] == "false"


@pytest.mark.parametrize("status", tables.IMPORT_STATUSES)
def test_every_import_status_has_a_stage_and_only_waiting_ones_keep_polling(status: str) -> None:
    """A status without its own branch would fall through to "Done: … in the warehouse" (the preview step's
    statuses included): the page must neither claim an import that never ran nor poll a job nobody will touch."""
    stage = import_stage({"status": status, "records_ingested": 0, "records_total": 0, "warehouse": "built"})
    assert stage.finished == (status not in ("pending", "running", "preview"))
    if status != "success":
        assert not stage.detail.startswith("Done"), (status, stage.detail)
