"""Every row of the error table, through a real grpc.aio server and channel."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc
from pipeline import (
    BatchContractError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotReady,
    Overloaded,
    ShuttingDown,
)
from server.errors import ERROR_DOMAIN, STATUS_BY_ERROR, Conflict, ModelNotFound, StoreBusy, grpc_errors


class _Raising(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, error: Exception) -> None:
        self.error = error

    @grpc_errors
    async def GetServerInfo(self, request, context):
        raise self.error


async def _call(error: Exception) -> grpc.aio.AioRpcError:
    server = grpc.aio.server()
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(_Raising(error), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetServerInfo(admin_service_pb2.GetServerInfoRequest(), timeout=10)
            return caught.value
    finally:
        await server.stop(None)


def _details(error: grpc.aio.AioRpcError) -> list:
    status = rpc_status.from_call(error)
    assert status is not None
    unpacked = []
    for detail in status.details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                unpacked.append(message)
    return unpacked


CASES = [
    (InvalidInput("image", "not an image"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT"),
    (ModelNotReady("loading"), grpc.StatusCode.UNAVAILABLE, "MODEL_NOT_READY"),
    (Overloaded("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED"),
    (
        DeadlineExceeded("deadline passed while queued"),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
    ),
    (ShuttingDown("closing"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
    (BatchContractError("3 results for 4 items"), grpc.StatusCode.INTERNAL, "INTERNAL"),
    (StoreBusy("the job database is locked"), grpc.StatusCode.UNAVAILABLE, "JOB_STORE_BUSY"),
    (Conflict("a reload is already in progress"), grpc.StatusCode.ABORTED, "CONFLICT"),
    (ModelNotFound("no model is named 'x'"), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
]


def test_cases_cover_the_whole_table() -> None:
    assert {type(error) for error, _, _ in CASES} == set(STATUS_BY_ERROR)


@pytest.mark.parametrize(("error", "code", "reason"), CASES, ids=lambda v: type(v).__name__)
def test_pipeline_error_maps_to_its_status(error, code, reason) -> None:
    rpc_error = asyncio.run(_call(error))
    assert rpc_error.code() == code
    details = _details(rpc_error)
    info = next(d for d in details if isinstance(d, error_details_pb2.ErrorInfo))
    assert (info.reason, info.domain) == (reason, ERROR_DOMAIN)
    if code == grpc.StatusCode.INTERNAL:
        assert "3 results" not in rpc_error.details()
    else:
        assert str(error) in rpc_error.details()


def test_overloaded_with_a_retry_hint_sends_retry_info() -> None:
    rpc_error = asyncio.run(_call(Overloaded("8 images pending", retry_after_s=2.5)))
    assert rpc_error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(rpc_error)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    info = error_details_pb2.RetryInfo()
    retry[0].Unpack(info)
    assert info.retry_delay.ToNanoseconds() == 2_500_000_000


def test_a_busy_job_store_sends_retry_info() -> None:
    rpc_error = asyncio.run(_call(StoreBusy("the job database is locked", retry_after_s=1.5)))
    assert rpc_error.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(rpc_error)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    info = error_details_pb2.RetryInfo()
    retry[0].Unpack(info)
    assert info.retry_delay.ToNanoseconds() == 1_500_000_000


def test_invalid_input_names_the_field_in_bad_request() -> None:
    rpc_error = asyncio.run(_call(InvalidInput("options.reference_date", "must be YYYY-MM-DD")))
    bad_request = next(d for d in _details(rpc_error) if isinstance(d, error_details_pb2.BadRequest))
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("options.reference_date", "must be YYYY-MM-DD")
    ]


def test_unexpected_exception_is_internal_without_its_text() -> None:
    rpc_error = asyncio.run(_call(KeyError("secret-internal-state")))
    assert rpc_error.code() == grpc.StatusCode.INTERNAL
    assert "secret-internal-state" not in rpc_error.details()
    assert "Traceback" not in rpc_error.details()
    assert rpc_status.from_call(rpc_error).code == code_pb2.INTERNAL
