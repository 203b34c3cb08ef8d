"""Every setting of the system, typed and validated once at start.

Names follow the client's spec (§8) so that `.env` files written for it keep working; the rest are ours
and documented in `.env.example`. `load_settings()` is the only entry point: it returns a frozen
`Settings` or raises `SettingsError` whose message is one line naming the variable and the fix.

Local mode: when neither `DATABASE_URL` nor `TOKEN_ENCRYPTION_KEY` is given, the process is a single-box
install. Its secrets (encryption key, admin token and password) are generated once into
`$SPOTIFY_MCP_HOME/secrets.json` (mode 0600) and reused on every start.

Modules by concern: model (the `Settings` fields, validators and derived values), environment (how variables
are read and decoded), errors (the one-line message and its fix hints), loading (the entry points and local
secrets). Import from `core.settings`: the public names are re-exported here.
"""

from __future__ import annotations

from core import secrets_file
from core.settings.errors import FIX_HINTS, SettingsError
from core.settings.loading import load_settings, load_some_settings
from core.settings.model import AuthMode, Settings

SECRETS_FILE_NAME = secrets_file.FILE_NAME

__all__ = [
    "FIX_HINTS",
    "SECRETS_FILE_NAME",
    "AuthMode",
    "Settings",
    "SettingsError",
    "load_settings",
    "load_some_settings",
]
