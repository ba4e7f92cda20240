"""Sends a server stream's messages from inside its handler, ending quietly once the call is over."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc._cython.cygrpc import ExecuteBatchError

from server.request_context import REQUEST_ID_HEADER, request_id_var

__all__ = ["StreamWriter"]


class StreamWriter:
    """Sends a server stream's messages from inside its handler (grpc.aio's read/write API).

    Why not ``yield``: grpc.aio writes a yielded message outside the handler, while the handler
    and every interceptor's generator around it wait at their ``yield``. A call that ends during
    that write (the client stopped reading, then cancelled) never reaches them again: their
    ``finally`` blocks (the stream's slot, the open-streams gauge, the frames being read) wait for
    the garbage collector, 30-70 s, and grpc logs the failed write as an ERROR. Written here, the
    write is awaited inside the handler, so the call's end arrives as CancelledError through the
    handler and every interceptor at once.

    Args:
        context: the call's context; its first write sends the request id in the headers.
    """

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self._started = False

    @property
    def started(self) -> bool:
        """Whether the headers went out (with the first message): a failure after that cannot
        be a trailers-only response, which HTTP gateways turn into an HTTP error status."""
        return self._started

    async def __call__(self, message: Any) -> None:
        """Writes ``message``.

        Raises:
            asyncio.CancelledError: the call ended (the client cancelled or went away, the
                deadline passed) before or while the message was sent: logged CANCELLED, without
                a traceback, as grpc's own cancellation of the handler would be.
            Exception: any other failure of the write (a message the serializer refuses), as is,
                so the handler's error mapping logs it and the caller gets INTERNAL.
        """
        try:
            if not self._started:
                # As the access log does for a stream's first message: the request id goes out with
                # the headers, and those go with the first message, so a stream that fails before
                # any message stays a trailers-only response (which HTTP gateways map to a status).
                await self._context.send_initial_metadata(((REQUEST_ID_HEADER, request_id_var.get()),))
                self._started = True
            await self._context.write(message)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            if _call_ended(self._context, exc):
                raise asyncio.CancelledError("the call ended while a message was being sent") from exc
            raise


def _call_ended(context: grpc.aio.ServicerContext, error: Exception) -> bool:
    """Whether ``error``, raised by a write, means the call is over rather than a bug.

    A call whose status is sent (``done()``: grpc.aio then raises UsageError "RPC already
    finished.") or that was cancelled is over. So is one whose send the core failed
    (ExecuteBatchError): the client cancelled or went away, and grpc.aio has not yet cancelled the
    handler for it (its own handler ignores that error for a closed client). ExecuteBatchError has
    no public name in grpc.aio.
    """
    return context.done() or context.cancelled() or isinstance(error, ExecuteBatchError)
