"""Re-encrypt every stored secret under the newest TOKEN_ENCRYPTION_KEY (`spotify-mcp rotate-key`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import tables
from core.crypto import TokenCipher

# Every encrypted column, with the key columns that identify its row.
ENCRYPTED_COLUMNS: tuple[tuple[Table, str, tuple[str, ...]], ...] = (
    (tables.spotify_tokens, "refresh_token_enc", ("user_id",)),
    (tables.spotify_tokens, "access_token_enc", ("user_id",)),
    (tables.oauth_states, "code_verifier_enc", ("state_hash",)),
)


@dataclass(frozen=True, slots=True)
class RotationReport:
    examined: int
    rotated: int


async def rotate_stored_secrets(connection: AsyncConnection, cipher: TokenCipher) -> RotationReport:
    """Re-encrypt in one transaction (the caller's): all rows move to the newest key, or none do."""
    examined = rotated = 0
    for table, column_name, key_names in ENCRYPTED_COLUMNS:
        column = table.c[column_name]
        keys = [table.c[name] for name in key_names]
        rows = await connection.execute(select(*keys, column).where(column.is_not(None)).with_for_update())
        for row in rows:
            examined += 1
            ciphertext: str = row[-1]
            if cipher.is_current(ciphertext):
                continue
            condition = [key == row[index] for index, key in enumerate(keys)]
            await connection.execute(update(table).where(*condition).values({column_name: cipher.rotate(ciphertext)}))
            rotated += 1
    return RotationReport(examined=examined, rotated=rotated)
