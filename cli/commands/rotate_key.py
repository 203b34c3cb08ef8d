from __future__ import annotations

import argparse
import asyncio

from cli.database import database_url
from core.crypto import TokenCipher
from core.db import create_engine
from core.key_rotation import rotate_stored_secrets
from core.settings import load_settings


async def _rotate(url: str, cipher: TokenCipher) -> str:
    engine = create_engine(url, application_name="spotify-mcp rotate-key")
    try:
        async with engine.begin() as connection:
            report = await rotate_stored_secrets(connection, cipher)
    finally:
        await engine.dispose()
    return f"re-encrypted {report.rotated} of {report.examined} stored secrets under the newest key"


def run(args: argparse.Namespace) -> int:
    del args
    settings = load_settings()
    cipher = TokenCipher(settings.encryption_keys)
    with database_url(settings) as url:
        print(asyncio.run(_rotate(url, cipher)))
    if len(settings.encryption_keys) > 1:
        print("all secrets now use the first key; you may remove the older keys from TOKEN_ENCRYPTION_KEY")
    return 0
