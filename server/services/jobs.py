"""JobService: persistent asynchronous jobs. In the contract; served from a later version."""

from __future__ import annotations

from typing import Any

import grpc

from datalid.v1 import job_service_pb2_grpc
from server.services.unimplemented import abort_unimplemented

__all__ = ["JobService"]

_ARRIVES_WITH = "it arrives with the persistent job store"


class JobService(job_service_pb2_grpc.JobServiceServicer):
    """Answers every JobService RPC with UNIMPLEMENTED and a plain message, until jobs land."""

    async def CreateJob(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "CreateJob", _ARRIVES_WITH)

    async def GetJob(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "GetJob", _ARRIVES_WITH)

    async def ListJobs(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "ListJobs", _ARRIVES_WITH)

    async def CancelJob(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "CancelJob", _ARRIVES_WITH)

    async def DeleteJob(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "DeleteJob", _ARRIVES_WITH)

    async def WatchJob(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await abort_unimplemented(context, "WatchJob", _ARRIVES_WITH)
