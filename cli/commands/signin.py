"""`spotify-mcp signin password|link|grants|revoke`: how a local (ZIP-only) user signs in when connecting ChatGPT or
Claude over OAuth, and which assistants a user connected.

Passwords are read from the terminal (or stdin with --password-stdin), never from the command line, and stored
with scrypt; a one-time link is printed once and stored hashed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from datetime import timedelta

from cli.database import database_url
from core.db import create_engine, create_session_factory, unit_of_work
from core.settings import Settings, load_settings
from core.user_lookup import REFERENCE_HELP, resolve_user
from serve.oauth import signin
from serve.oauth.tokens import list_grants, revoke_grant


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="signin_action", metavar="ACTION", required=True)
    password = actions.add_parser("password", help="Set a user's sign-in name and password (prompted).")
    password.add_argument("--user", required=True, help=REFERENCE_HELP)
    password.add_argument("--login", required=True, help="the name the person types on the sign-in page")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    link = actions.add_parser("link", help="Print a one-time sign-in link for a user.")
    link.add_argument("--user", required=True, help=REFERENCE_HELP)
    link.add_argument("--hours", type=int, default=24, help="how long the link works (default: 24)")
    grants = actions.add_parser("grants", help="List the assistants (OAuth clients) a user connected.")
    grants.add_argument("--user", required=True, help=REFERENCE_HELP)
    revoke = actions.add_parser("revoke", help="Disconnect an assistant: revoke a grant and its tokens.")
    revoke.add_argument("--user", required=True, help=REFERENCE_HELP)
    revoke.add_argument("grant_id", help="the grant's id (from `signin grants`)")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("spotify-mcp: the passwords differ")
    return first


async def _run_async(url: str, settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(url, application_name="spotify-mcp signin")
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            user_id = (await resolve_user(session, args.user)).id
            if args.signin_action == "password":
                await signin.set_password(session, user_id, args.login, _read_password(args.password_stdin))
                print(f"sign-in set for user {user_id}: name {args.login!r} (password stored with scrypt)")
            elif args.signin_action == "link":
                link, expires = await signin.issue_link(session, settings, user_id, timedelta(hours=args.hours))
                print(link)
                print(f"one-time link for user {user_id}, valid until {expires:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
            elif args.signin_action == "grants":
                for grant in await list_grants(session, user_id):
                    state = "revoked" if grant["revoked_at"] else "active"
                    name = grant["client_name"] or grant["client_id"]
                    print(f"{grant['id']}  {state:7}  {grant['client_kind']:13}  {grant['live_tokens']} tokens  {name}")
            elif not await revoke_grant(session, user_id, uuid.UUID(args.grant_id)):
                print(f"spotify-mcp: no grant {args.grant_id} for user {user_id}", file=sys.stderr)
                return 1
            else:
                print(f"revoked grant {args.grant_id} and its tokens")
    except (signin.SigninError, ValueError) as error:
        print(f"spotify-mcp: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database_url(settings) as url:
        return asyncio.run(_run_async(url, settings, args))
