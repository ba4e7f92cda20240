"""The answer of RPCs that are in the contract but not served by this version yet."""

from __future__ import annotations

import grpc

__all__ = ["abort_unimplemented"]


async def abort_unimplemented(context: grpc.aio.ServicerContext, rpc: str, arrives_with: str) -> None:
    """Ends the call with UNIMPLEMENTED and a plain message saying what will bring it."""
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{rpc} is part of the datalid.v1 API but not served by this server version yet ({arrives_with})",
    )
