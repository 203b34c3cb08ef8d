"""`spotify-mcp token create|list|revoke`: per-user API tokens for the tools (stored hashed; shown once)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from cli.database import database_url
from core.db import create_engine, create_session_factory, unit_of_work
from core.settings import load_settings
from core.user_lookup import REFERENCE_HELP, resolve_user
from serve import api_tokens
from serve.api.errors import AppError


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="Create a token for a user and print it once.")
    create.add_argument("--user", required=True, help=REFERENCE_HELP)
    create.add_argument("--name", default="assistant", help="what the token is for (default: assistant)")
    create.add_argument("--expires-days", type=int, default=None, help="lifetime in days (default: until revoked)")
    listing = actions.add_parser("list", help="List tokens (never the tokens themselves).")
    listing.add_argument("--user", default=None, help=f"only this user's tokens ({REFERENCE_HELP})")
    revoke = actions.add_parser("revoke", help="Revoke a token by its id.")
    revoke.add_argument("token_id", help="the token's id (from `token list`)")


async def _run_async(url: str, args: argparse.Namespace) -> int:
    engine = create_engine(url, application_name="spotify-mcp token")
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            if args.token_action == "create":
                user = await resolve_user(session, args.user)
                created = await api_tokens.create_token(session, user.id, args.name, expires_in_days=args.expires_days)
                print(created.token)
                print(
                    f"token {created.id} for {user.label} ({user.id}), named {created.name!r}; shown once, stored "
                    "hashed. Use it as `Authorization: Bearer <token>`.",
                    file=sys.stderr,
                )
            elif args.token_action == "list":
                user_filter = (await resolve_user(session, args.user)).id if args.user else None
                for info in await api_tokens.list_tokens(session, user_filter):
                    state = "revoked" if info.revoked_at else "active"
                    last = info.last_used_at.isoformat() if info.last_used_at else "never"
                    print(f"{info.id}  {info.user_id}  {info.token_prefix}…  {state:7}  last used {last}  {info.name}")
            else:
                revoked = await api_tokens.revoke_token(session, uuid.UUID(args.token_id))
                print(f"revoked {revoked.id} ({revoked.name})")
    except AppError as error:
        print(f"spotify-mcp: {error.message}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"spotify-mcp: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database_url(settings) as url:
        return asyncio.run(_run_async(url, args))
