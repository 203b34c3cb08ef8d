"""The subcommands of `spotify-mcp`: name, help text and the module that implements it.

A command's module is imported only when that command runs (or shows its own --help), so the CLI starts
fast and `spotify-mcp --help` does not load dbt, scikit-learn or the MCP stack. A command module defines
`run(args) -> int` and, if it takes arguments, `configure(parser)`. To add one: write the module, list it here.
"""

from __future__ import annotations

from cli.commands.base import Command

COMMANDS: tuple[Command, ...] = (
    Command("up", "cli.commands.up", "Start everything: database (embedded by default), migrations and all services."),
    Command("api", "cli.commands.api", "Run the API (OAuth, MCP tools, admin endpoints)."),
    Command("collector", "cli.commands.collector", "Run the collector: imports, initial sync, polling, enrichment."),
    Command(
        "migrate",
        "cli.commands.migrate",
        "Create or upgrade the app and raw schemas (embedded database if DATABASE_URL is unset).",
    ),
    Command(
        "db-url",
        "cli.commands.db_url",
        "Print the database URL (starts the embedded database if needed, for psql or a BI tool).",
    ),
    Command("gen-key", "cli.commands.gen_key", "Print a new key for TOKEN_ENCRYPTION_KEY."),
    Command(
        "rotate-key",
        "cli.commands.rotate_key",
        "Re-encrypt stored tokens under the first TOKEN_ENCRYPTION_KEY (put the new key first, keep the old after it).",
    ),
    Command("purge-logs", "cli.commands.purge_logs", "Delete app.logs rows older than the retention window."),
    Command("notify-test", "cli.commands.notify_test", "Send a test message to every NOTIFY_URLS entry now."),
    Command("healthcheck", "cli.commands.healthcheck", "Probe a service's /healthz (used by container health checks)."),
    Command("token", "cli.commands.token", "Create, list or revoke per-user API tokens for the tools."),
    Command(
        "admin", "cli.commands.admin", "Run the admin UI (talks to the API over HTTP; embeds the Streamlit analytics)."
    ),
    Command("dashboards", "cli.commands.dashboards", "Run the Streamlit analytics (behind the admin UI's proxy)."),
    Command(
        "transform",
        "cli.commands.transform",
        "Build the dbt warehouse (staging → marts) and the taste clusters "
        "(embedded database if DATABASE_URL is unset).",
    ),
    Command(
        "demo",
        "cli.commands.demo",
        "Add a demo user with two years of synthetic history (through the real import path) and build the warehouse.",
    ),
    Command(
        "import",
        "cli.commands.import_",
        "Import a Spotify data export (ZIP) now, in this process (embedded database if DATABASE_URL is unset).",
    ),
    Command(
        "config-reference",
        "cli.commands.config_reference",
        "Print the configuration reference (docs/configuration.md) as Markdown.",
    ),
    Command(
        "signin",
        "cli.commands.signin",
        "Local sign-in for ChatGPT/Claude (password, one-time link) and connected assistants.",
    ),
)
