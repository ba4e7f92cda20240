"""Credentials never reach the log: a logging filter that redacts them from every record.

Callers send API keys (``dlk_...``) and JWTs in metadata. Datalid's own code never logs metadata,
but libraries may: gRPC's Python layer logs a metadata value that is not UTF-8 whole, as bytes
("Invalid encoding on b'...'", with a traceback), so a key followed by one stray byte reached
the log verbatim. The filter goes on the root logger's handlers, not on loggers, because a
logger's own filters never see the records of its child loggers (``grpc._cython.cygrpc``).
"""

from __future__ import annotations

import logging
import re

from server.edge.auth import KEY_PREFIX
from server.errors import bounded

__all__ = ["MAX_LOG_MESSAGE_CHARS", "RedactingFilter", "install_log_redaction", "redact"]

# A log line is one event: a message longer than this is cut (a traceback is kept whole).
MAX_LOG_MESSAGE_CHARS = 8192
_REDACTED = "<redacted>"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "x-api-key: K", "authorization=Bearer T", ('x-api-key', 'K'), (b'authorization', b'Bearer T').
    (
        re.compile(
            r"(?i)\b(x-api-key|authorization)(['\"]?\s*[:=,]\s*(?:b?['\"])?)(?:(?:bearer|basic)\s+)?[^\s'\",)]+"
        ),
        rf"\1\2{_REDACTED}",
    ),
    # Our API keys, wherever they appear (server.edge.auth.new_key: the prefix, then URL-safe base64).
    (re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]+"), KEY_PREFIX + _REDACTED),
    # JWTs: base64url JSON header ("eyJ" is '{"'), payload and signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"), _REDACTED),
)


def redact(text: str) -> str:
    """``text`` with API keys, JWTs and the values of ``x-api-key``/``authorization`` replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_wire_bytes_record(record: logging.LogRecord) -> bool:
    # gRPC's own loggers pass bytes only when they log what came off the wire (metadata).
    args = record.args if isinstance(record.args, tuple) else ()
    return record.name.startswith("grpc") and any(isinstance(arg, bytes | bytearray) for arg in args)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in), traceback and stack with ``redact``.

    Raw bytes that gRPC logs from the wire are replaced by their length: they are the caller's,
    not text, and any secret could be in them. That record is the caller's fault, not the
    server's, so it becomes one WARNING line without the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_wire_bytes_record(record):
            assert isinstance(record.args, tuple)
            record.args = tuple(
                f"<{len(arg)} bytes, not logged>" if isinstance(arg, bytes | bytearray) else arg
                for arg in record.args
            )
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: log them as given
            message = f"{record.msg} {record.args}"
        message = redact(message)
        record.msg, record.args = bounded(message, MAX_LOG_MESSAGE_CHARS), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Adds a ``RedactingFilter`` to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
