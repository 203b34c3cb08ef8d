"""The subcommands of `spotify-mcp`. Add a module with a `Command` and list it here."""

from __future__ import annotations

from cli.commands import (
    admin,
    api,
    collector,
    config_reference,
    dashboards,
    db_url,
    demo,
    gen_key,
    healthcheck,
    import_,
    migrate,
    purge_logs,
    rotate_key,
    signin,
    token,
    transform,
    up,
)
from cli.commands.base import Command

COMMANDS: tuple[Command, ...] = (
    up.COMMAND,
    api.COMMAND,
    collector.COMMAND,
    migrate.COMMAND,
    db_url.COMMAND,
    gen_key.COMMAND,
    rotate_key.COMMAND,
    purge_logs.COMMAND,
    healthcheck.COMMAND,
    token.COMMAND,
    admin.COMMAND,
    dashboards.COMMAND,
    transform.COMMAND,
    demo.COMMAND,
    import_.COMMAND,
    config_reference.COMMAND,
    signin.COMMAND,
)
