"""Credentials sent as call metadata: ``Client(..., auth=TokenAuth("..."))``."""

from __future__ import annotations

__all__ = ["ApiKeyAuth", "Auth", "TokenAuth"]


def _check_value(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{kind} must not contain line breaks or NUL characters")
    return value.strip()


class Auth:
    """Base class of the auth plugins: the metadata pairs added to every call.

    Subclass it and override ``metadata()`` to send other headers.
    """

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The ``(key, value)`` pairs to send; keys are lowercase ASCII."""
        raise NotImplementedError

    def __repr__(self) -> str:
        # Never print the secret itself.
        return f"{type(self).__name__}(***)"


class TokenAuth(Auth):
    """Sends ``authorization: Bearer <token>``.

    Raises:
        ValueError: the token is empty or contains line breaks.
    """

    def __init__(self, token: str) -> None:
        self._token = _check_value("token", token)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._token}"),)


class ApiKeyAuth(Auth):
    """Sends ``x-api-key: <key>``.

    Raises:
        ValueError: the key is empty or contains line breaks.
    """

    def __init__(self, key: str) -> None:
        self._key = _check_value("api key", key)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-api-key", self._key),)
