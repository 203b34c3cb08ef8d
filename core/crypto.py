"""Secrets at rest: Spotify tokens encrypted with rotatable keys; API tokens stored as hashes.

`TokenCipher` takes one or more Fernet keys (newest first). The first encrypts; every key decrypts, so
a new key can be put in front and old ciphertexts keep working until `rotate()` re-encrypts them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

API_TOKEN_PREFIX = "smcp_"


class DecryptionError(Exception):
    """A ciphertext could not be decrypted with any configured key."""


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self._newest = Fernet(keys[0].encode())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError(
                "stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEY; was a key removed before rotation?"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key (a no-op in meaning, new bytes on disk)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored secret cannot be decrypted with any configured key") from None

    def is_current(self, ciphertext: str) -> bool:
        """True when the newest key already decrypts it (nothing to rotate)."""
        try:
            self._newest.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True


def generate_key() -> str:
    return Fernet.generate_key().decode()


def hash_secret(value: str) -> str:
    """sha256 hex digest: how API tokens, OAuth states and codes are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
