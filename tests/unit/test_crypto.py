from __future__ import annotations

import pytest

from core.crypto import DecryptionError, TokenCipher, constant_time_equals, generate_key, hash_secret, new_api_token


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    cipher = TokenCipher([generate_key()])
    ciphertext = cipher.encrypt("AQD-refresh-token")
    assert "AQD-refresh-token" not in ciphertext
    assert cipher.decrypt(ciphertext) == "AQD-refresh-token"


def test_rotation_old_ciphertexts_still_decrypt_and_rotate_to_newest() -> None:
    old, new = generate_key(), generate_key()
    legacy = TokenCipher([old]).encrypt("token")
    both = TokenCipher([new, old])
    assert both.decrypt(legacy) == "token"
    assert not both.is_current(legacy)
    rotated = both.rotate(legacy)
    assert both.is_current(rotated)
    assert TokenCipher([new]).decrypt(rotated) == "token"


def test_removed_key_gives_clear_error() -> None:
    ciphertext = TokenCipher([generate_key()]).encrypt("token")
    with pytest.raises(DecryptionError, match="TOKEN_ENCRYPTION_KEY"):
        TokenCipher([generate_key()]).decrypt(ciphertext)


def test_api_tokens_hash_and_compare() -> None:
    token = new_api_token()
    assert token.startswith("smcp_") and len(token) > 40
    assert hash_secret(token) == hash_secret(token) != hash_secret(new_api_token())
    assert constant_time_equals("abc", "abc") and not constant_time_equals("abc", "abd")


def test_no_keys_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TokenCipher([])
