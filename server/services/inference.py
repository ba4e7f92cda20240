"""ExpiryDateService: reads expiry dates from images sent by callers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import grpc
from google.api import httpbody_pb2

from datalid.v1 import expiry_date_service_pb2, expiry_date_service_pb2_grpc, types_pb2
from pipeline import InvalidInput
from server import convert
from server.errors import grpc_errors
from server.host import PipelineHost
from server.request_context import request_id_var
from server.services.unimplemented import abort_unimplemented

__all__ = ["ExpiryDateService"]

# ProcessUpload accepts what a camera or a browser sends for a photo; the decoder checks the bytes.
_UPLOAD_CONTENT_TYPES = ("image/", "application/octet-stream")


class ExpiryDateService(expiry_date_service_pb2_grpc.ExpiryDateServiceServicer):
    """Serves the unary Process calls; streaming and URL calls arrive in later versions.

    Args:
        host: gives the loaded pipeline.
        today: the server's date, the default reference for is_expired (injected for tests).
    """

    def __init__(self, host: PipelineHost, today: Callable[[], dt.date] = dt.date.today) -> None:
        self._host = host
        self._today = today

    async def _process(self, image: bytes, options: types_pb2.ProcessOptions) -> types_pb2.ProcessResponse:
        pipeline_options = convert.options_from_pb(options, self._today())
        result = await self._host.pipeline.aprocess(image, pipeline_options)
        return convert.result_to_pb(result, request_id_var.get())

    @grpc_errors
    async def Process(
        self, request: types_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        return await self._process(request.image, request.options)

    @grpc_errors
    async def ProcessUpload(
        self, request: httpbody_pb2.HttpBody, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_UPLOAD_CONTENT_TYPES):
            raise InvalidInput("content_type", f"must be an image type, got {request.content_type!r}")
        return await self._process(request.data, types_pb2.ProcessOptions())

    async def ProcessUrl(
        self, request: expiry_date_service_pb2.ProcessUrlRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ProcessResponse:
        await abort_unimplemented(context, "ProcessUrl", "it arrives with safe URL fetching")
        raise AssertionError("unreachable: abort raises")

    async def ProcessBatch(
        self, request_iterator: AsyncIterator[types_pb2.ProcessRequest], context: grpc.aio.ServicerContext
    ) -> expiry_date_service_pb2.ProcessBatchResponse:
        await abort_unimplemented(context, "ProcessBatch", "it arrives with batch uploads")
        raise AssertionError("unreachable: abort raises")

    async def ProcessWithProgress(
        self, request: types_pb2.ProcessRequest, context: grpc.aio.ServicerContext
    ) -> None:
        await abort_unimplemented(context, "ProcessWithProgress", "it arrives with progress streams")

    async def StreamFrames(
        self,
        request_iterator: AsyncIterator[expiry_date_service_pb2.Frame],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await abort_unimplemented(context, "StreamFrames", "it arrives with camera streams")
