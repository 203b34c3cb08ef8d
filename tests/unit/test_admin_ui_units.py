"""Admin UI pieces without servers: the signed session, login checks, the proxy's cookie filter, filters,
and the admin API's value sets staying equal to the database's."""

from __future__ import annotations

import typing

import pytest

from core import tables
from core.settings import Settings
from serve.admin_ui import session
from serve.admin_ui.app import fmt_bytes, fmt_duration, fmt_time, percent
from serve.admin_ui.proxy import _forward_cookies
from serve.api.routes import admin


def _settings(**values: str) -> Settings:
    base: dict[str, object] = {"token_encryption_key": [], "database_url": None}
    return Settings.model_validate(base | values)


def test_session_round_trip_and_tampering() -> None:
    key = b"k" * 32
    cookie, issued = session.issue(key, "admin", now=1_000)
    assert session.verify(key, cookie, now=1_001) == issued
    assert session.verify(b"x" * 32, cookie, now=1_001) is None
    payload, signature = cookie.split(".")
    assert session.verify(key, payload + "." + signature[:-2] + "AA", now=1_001) is None
    assert session.verify(key, payload[:-1] + "." + signature, now=1_001) is None
    assert session.verify(key, cookie, now=1_000 + session.SESSION_LIFETIME_SECONDS + 1) is None
    for junk in (None, "", "a", "a.b.c", "..."):
        assert session.verify(key, junk) is None
    other, second = session.issue(key, "admin", now=1_000)
    assert second.csrf_token != issued.csrf_token and other != cookie


def test_session_key_follows_the_secret() -> None:
    with_secret = _settings(session_secret="s1", admin_token="t1")
    assert session.session_key(with_secret) == session.session_key(_settings(session_secret="s1", admin_token="t2"))
    assert session.session_key(with_secret) != session.session_key(_settings(session_secret="s2", admin_token="t1"))
    # Without SESSION_SECRET, rotating the admin token ends every session.
    assert session.session_key(_settings(admin_token="t1")) != session.session_key(_settings(admin_token="t2"))


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
