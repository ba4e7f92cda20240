"""Opaque ListJobs page tokens: a listing's position, signed so that only its own owner and state
filter can use it.

A token is the last listed job's (created_at, job_id), HMAC-SHA256-signed with a key the job store
keeps in its database, over the owner and the state filter too. It positions a listing within its
owner's own jobs only, so it says nothing about other owners (no global row number); another
owner's, another filter's or an altered token fails the MAC. Tokens stay valid across restarts
(the key is persisted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

__all__ = ["InvalidCursor", "PageTokens"]

# Version, the last listed job's created_at (Unix seconds) and job id (uuid4 hex, as 16 bytes),
# then the MAC's first _MAC_BYTES bytes: 128 bits, as much as the id itself.
_BODY = struct.Struct(">Bd16s")
_MAC_BYTES = 16
_VERSION = 1
# Longer than any token issued (base64url of 41 bytes is 55 characters): not even decoded.
_MAX_TOKEN_CHARS = 128


class InvalidCursor(ValueError):
    """A page token that this store did not issue for this owner and state filter (or was altered)."""


class PageTokens:
    """Encodes and checks page tokens with one key (bytes; 32 random bytes per job database)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, owner: str, state: str, body: bytes) -> bytes:
        scope = f"{owner}\0{state}\0".encode()
        return hmac.new(self._key, scope + body, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, owner: str, state: str, created_at: float, job_id: str) -> str:
        """The token that resumes ``owner``'s listing filtered by ``state`` ("" for all) after the
        job (``created_at``, ``job_id``: 32 hex digits)."""
        body = _BODY.pack(_VERSION, created_at, bytes.fromhex(job_id))
        token = body + self._mac(owner, state, body)
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, owner: str, state: str, token: str) -> tuple[float, str]:
        """The (created_at, job_id) the token was made from.

        Raises:
            InvalidCursor: not a token issued for this owner and state filter.
        """
        if len(token) > _MAX_TOKEN_CHARS:
            raise InvalidCursor("too long")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor("not base64url") from None
        if len(raw) != _BODY.size + _MAC_BYTES:
            raise InvalidCursor("wrong length")
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        if not hmac.compare_digest(mac, self._mac(owner, state, body)):
            raise InvalidCursor("not issued for this listing")
        version, created_at, job_id = _BODY.unpack(body)
        if version != _VERSION:
            raise InvalidCursor("unknown version")
        return created_at, job_id.hex()
