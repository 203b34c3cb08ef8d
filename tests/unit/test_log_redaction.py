from __future__ import annotations

import io
import json
import logging

from core.log import JsonFormatter, _ContextFilter, log_context, redact, redact_text


def test_redacts_secrets_emails_and_ips_in_text() -> None:
    text = (
        "Authorization: Bearer BQC4abcdefghijklmnop refresh_token=AQDxyz123456 client_secret: s3cr3tvalue "
        "mail jane.doe@example.com from 203.0.113.42 and 2001:db8:85a3::8a2e:370:7334 "
        "enc gAAAAABlongfernetciphertextvalue0123456789 api smcp_abcdefghijklmnopqrstuvwxyz"
    )
    out = redact_text(text)
    for secret in (
        "BQC4abcdefghijklmnop", "AQDxyz123456", "s3cr3tvalue", "jane.doe@example.com", "203.0.113.42",
        "2001:db8:85a3", "gAAAAABlongfernet", "smcp_abcdefghijklmnop",
    ):  # fmt: skip
        assert secret not in out, secret
    assert "Bearer [redacted]" in out


def test_keeps_ordinary_text_times_and_loopback() -> None:
    text = "poll done at 12:30:45 for 50 plays on http://127.0.0.1:8000/healthz"
    assert redact_text(text) == text


def test_redacts_values_under_secret_keys_deeply() -> None:
    context = {"user_id": "u1", "headers": {"Authorization": "x", "Accept": "json"}, "ip_addr": "10.0.0.1",
               "items": [{"refresh_token": "abc"}], "email": "a@b.co"}  # fmt: skip
    out = redact(context)
    assert out == {
        "user_id": "u1",
        "headers": {"Authorization": "[redacted]", "Accept": "json"},
        "ip_addr": "[redacted]",
        "items": [{"refresh_token": "[redacted]"}],
        "email": "[redacted]",
    }


def test_json_lines_carry_bound_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("collector"))
    handler.addFilter(_ContextFilter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    with log_context(user_id="u-1", job_run_id=7):
        logger.info("polled for %s", "someone@example.org", extra={"ctx": {"fetched": 50}})
    logger.warning("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["service"] == "collector"
    assert first["level"] == "info"
    assert first["message"] == "polled for [email]"
    assert first["user_id"] == "u-1" and first["job_run_id"] == "7" and first["fetched"] == 50
    assert "user_id" not in second


def test_configure_logging_owns_the_root_logger() -> None:
    from core.log import configure_logging

    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        logging.basicConfig(force=True)  # what some libraries do at import time
        configure_logging("api")
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
