"""Every status code a server can answer becomes the right SDK exception, raised from the RpcError."""

from __future__ import annotations

import asyncio

import grpc
import pytest

import datalid_client
from datalid_client import (
    AsyncClient,
    Client,
    DatalidError,
    DeadlineExceeded,
    FieldViolation,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServerError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from datalid_client._errors import _map_rpc_errors
from tests.client.fakes import JPEG, FakeServer, bad_request, retry_info

_EXPECTED = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: ServerError,
    grpc.StatusCode.UNKNOWN: ServerError,
    grpc.StatusCode.CANCELLED: ServerError,
    grpc.StatusCode.ABORTED: ServerError,
    grpc.StatusCode.FAILED_PRECONDITION: ServerError,
    grpc.StatusCode.OUT_OF_RANGE: ServerError,
    grpc.StatusCode.ALREADY_EXISTS: ServerError,
    grpc.StatusCode.DATA_LOSS: ServerError,
}


def test_every_non_ok_code_has_an_expectation() -> None:
    assert set(_EXPECTED) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


@pytest.mark.parametrize("code", list(_EXPECTED), ids=lambda c: c.name)
def test_sync_client_maps_each_code(fake_server: FakeServer, code: grpc.StatusCode) -> None:
    fake_server.behaviour.fail_next(code, f"boom {code.name}")
    with Client(fake_server.target, retries=None) as client, pytest.raises(_EXPECTED[code]) as info:
        client.process(JPEG)
    error = info.value
    assert type(error) is _EXPECTED[code]
    assert isinstance(error, DatalidError)
    assert error.code is code
    assert error.details == f"boom {code.name}"
    assert code.name in str(error)
    assert isinstance(error.__cause__, grpc.RpcError), "raised `from` the gRPC error"


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL],
    ids=lambda c: c.name,
)
def test_async_client_maps_the_same_way(fake_server: FakeServer, code: grpc.StatusCode) -> None:
    fake_server.behaviour.fail_next(code, "async boom")

    async def scenario() -> DatalidError:
        async with AsyncClient(fake_server.target, retries=None) as client:
            with pytest.raises(DatalidError) as info:
                await client.process(JPEG)
            return info.value

    error = asyncio.run(scenario())
    assert type(error) is _EXPECTED[code]
    assert (error.code, error.details) == (code, "async boom")
    assert isinstance(error.__cause__, grpc.aio.AioRpcError)


def test_invalid_input_exposes_bad_request_field_violations(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(
        grpc.StatusCode.INVALID_ARGUMENT,
        "image is not a supported image",
        bad_request(("image", "not a JPEG, PNG, WebP or BMP"), ("options.detection_iou", "must be 0..1")),
    )
    with Client(fake_server.target) as client, pytest.raises(InvalidInput) as info:
        client.process(b"not an image")
    assert info.value.details == "image is not a supported image"
    assert info.value.field_violations == (
        FieldViolation("image", "not a JPEG, PNG, WebP or BMP"),
        FieldViolation("options.detection_iou", "must be 0..1"),
    )


def test_invalid_input_without_details_has_no_violations(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    with Client(fake_server.target) as client, pytest.raises(InvalidInput) as info:
        client.process(b"x")
    assert info.value.field_violations == ()


def test_async_client_reads_rich_details_too(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(
        grpc.StatusCode.INVALID_ARGUMENT, "bad image", bad_request(("image", "empty"))
    )

    async def scenario() -> InvalidInput:
        async with AsyncClient(fake_server.target) as client:
            with pytest.raises(InvalidInput) as info:
                await client.process(b"")
            return info.value

    assert asyncio.run(scenario()).field_violations == (FieldViolation("image", "empty"),)


def test_resource_exhausted_carries_the_retry_delay(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", retry_info(1.5))
    fake_server.behaviour.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
    with Client(fake_server.target) as client:
        with pytest.raises(ResourceExhausted) as first:
            client.process(JPEG)
        with pytest.raises(ResourceExhausted) as second:
            client.process(JPEG)
    assert first.value.retry_delay_s == 1.5
    assert second.value.retry_delay_s is None
    assert len(fake_server.behaviour.calls) == 2, "RESOURCE_EXHAUSTED is not retried"


def test_map_rpc_errors_lets_other_exceptions_through() -> None:
    with pytest.raises(KeyError), _map_rpc_errors():
        raise KeyError("not a gRPC error")

    async def scenario() -> None:
        async with _map_rpc_errors():
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


def test_map_rpc_errors_handles_a_bare_rpc_error() -> None:
    """An RpcError that is not a Call (no code, no trailers) still maps, to ServerError UNKNOWN."""
    with pytest.raises(ServerError) as info, _map_rpc_errors():
        raise grpc.RpcError()
    assert info.value.code is grpc.StatusCode.UNKNOWN


def test_errors_are_exported() -> None:
    for cls in set(_EXPECTED.values()) | {DatalidError}:
        assert getattr(datalid_client, cls.__name__) is cls
        assert cls.__doc__, f"{cls.__name__} says when it is raised"
