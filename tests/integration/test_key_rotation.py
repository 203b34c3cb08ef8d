from __future__ import annotations

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.key_rotation import rotate_stored_secrets


async def test_rotate_key_reencrypts_every_stored_token(engine: AsyncEngine, database_url: str) -> None:
    old, new = generate_key(), generate_key()
    legacy = TokenCipher([old])
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        for index in range(3):
            row = connection.execute(
                "INSERT INTO app.users (display_name) VALUES (%s) RETURNING id", (f"user {index}",)
            ).fetchone()
            assert row is not None
            connection.execute(
                "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, access_token_enc, scope) "
                "VALUES (%s, %s, %s, 'user-read-recently-played')",
                (row[0], legacy.encrypt(f"refresh-{index}"), legacy.encrypt(f"access-{index}") if index else None),
            )
    both = TokenCipher([new, old])
    async with engine.begin() as connection:
        report = await rotate_stored_secrets(connection, both)
    assert (report.examined, report.rotated) == (5, 5)
    only_new = TokenCipher([new])
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT refresh_token_enc, access_token_enc FROM app.spotify_tokens ORDER BY refresh_token_enc"
        ).fetchall()
    assert sorted(only_new.decrypt(refresh) for refresh, _ in rows) == ["refresh-0", "refresh-1", "refresh-2"]
    for refresh, _ in rows:
        assert "refresh-" not in refresh
    async with engine.begin() as connection:
        again = await rotate_stored_secrets(connection, both)
    assert again.rotated == 0  # idempotent
