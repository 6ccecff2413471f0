"""What a token is as text, and what of it the database keeps.

A token is `slc_` + a 10-character key id + `_` + 64 hex characters (256 random bits). The key id is public: it
says which token a leaked string is (scanners and people can match the `slc_` prefix and id) and finds the row;
the database keeps only the SHA-256 digest of the whole token, compared in constant time. SHA-256 without salt or
stretching is enough for 256 random bits: there is nothing to guess, and no dictionary of such strings.

Keys of DRF's former `authtoken` (40 hex characters, no prefix) were moved in with their first 10 characters as
the key id (120 unknown bits remain): the same lookup finds them.
"""

import hashlib
import hmac
import secrets

PREFIX = "slc_"
KEY_ID_LENGTH = 10
SECRET_BYTES = 32
# The longest text that can be a token: anything longer is refused before it is hashed.
MAX_LENGTH = len(PREFIX) + KEY_ID_LENGTH + 1 + 2 * SECRET_BYTES


def new_token() -> tuple[str, str]:
    """(key id, token) of a new random token."""
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_hex(SECRET_BYTES)}"


def key_id_of(token: str) -> str:
    """The key id a presented token claims (its row's lookup key); a legacy key's first characters."""
    return token.removeprefix(PREFIX)[:KEY_ID_LENGTH]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_digest: str) -> bool:
    """Whether `token` is the one whose digest was stored, in time that does not depend on where they differ."""
    return hmac.compare_digest(digest(token), stored_digest)
