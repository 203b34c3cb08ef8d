"""The entry points: `load_settings` (all of them, with a local install's generated secrets) and
`load_some_settings` (a few plain ones, for commands that must work without secrets).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import ValidationError, create_model

from core import secrets_file
from core.settings.environment import settings_input
from core.settings.errors import SettingsError, one_line
from core.settings.model import Settings


def _local_secrets(home: Path) -> dict[str, str]:
    """Read, or create once, the generated secrets of a local install (file mode 0600)."""
    return secrets_file.ensure(
        home,
        {
            "TOKEN_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
            "ADMIN_TOKEN": lambda: secrets.token_urlsafe(32),
            "ADMIN_PASSWORD": lambda: secrets.token_urlsafe(16),
            "SESSION_SECRET": lambda: secrets.token_urlsafe(32),
        },
    )


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Validate the environment into `Settings`; in local mode fill in generated secrets.

    Raises `SettingsError` with a single human line on any problem.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        settings = Settings.model_validate(settings_input(env))
    except ValidationError as error:
        raise SettingsError(one_line(error)) from None
    if not settings.local_mode:
        return settings
    generated = _local_secrets(settings.home)
    overrides: dict[str, Any] = {
        "token_encryption_key": generated["TOKEN_ENCRYPTION_KEY"],
        "session_secret": env.get("SESSION_SECRET") or generated["SESSION_SECRET"],
        "admin_token": env.get("ADMIN_TOKEN") or generated["ADMIN_TOKEN"],
        "admin_password": env.get("ADMIN_PASSWORD") or generated["ADMIN_PASSWORD"],
        "secrets_generated": True,
    }
    try:
        merged = settings_input(env) | overrides
        return Settings.model_validate(merged)
    except ValidationError as error:
        raise SettingsError(one_line(error)) from None


def load_some_settings(names: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Only the named settings, with `Settings`' defaults and field constraints (ports in range, …), for commands
    such as `healthcheck` that must work without the secrets and never generate any. Model-level rules and field
    validators are not applied: name only plain fields."""
    fields: dict[str, Any] = {
        name: (Settings.model_fields[name].annotation, Settings.model_fields[name]) for name in names
    }
    model = create_model("SomeSettings", **fields)
    given = settings_input(dict(os.environ if environ is None else environ))
    try:
        return model.model_validate({key: value for key, value in given.items() if key in fields}).model_dump()
    except ValidationError as error:
        raise SettingsError(one_line(error)) from None
