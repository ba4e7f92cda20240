"""AsyncClient behaves like Client: same results, metadata, deadlines, retries and lifecycle."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from datalid_client import (
    AsyncClient,
    Client,
    ProcessOptions,
    ProcessStatus,
    RetryPolicy,
    TokenAuth,
    Unavailable,
)
from tests.client.fakes import JPEG, FakeServer

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def test_async_results_equal_sync_results(fake_server: FakeServer, tmp_path: Path) -> None:
    image = tmp_path / "label.jpg"
    image.write_bytes(JPEG)
    options = ProcessOptions(max_detections=2, reference_date=dt.date(2026, 1, 1))

    async def scenario() -> tuple[object, ...]:
        async with AsyncClient(fake_server.target) as client:
            return (
                await client.process(JPEG, options),
                await client.process(image),
                await client.process_upload(JPEG),
                await client.server_info(),
                await client.list_models(),
                await client.health(),
            )

    async_results = run(scenario)
    with Client(fake_server.target) as client:
        sync_results = (
            client.process(JPEG, options),
            client.process(image),
            client.process_upload(JPEG),
            client.server_info(),
            client.list_models(),
            client.health(),
        )
    assert async_results == sync_results
    calls = fake_server.behaviour.calls
    assert [c.method for c in calls[:5]] == [
        "Process",
        "Process",
        "ProcessUpload",
        "GetServerInfo",
        "ListModels",
    ]
    assert calls[0].request == calls[5].request, "same wire request from both clients"
    assert calls[0].request.options.max_detections == 2
    assert not calls[0].request.options.HasField("detection_iou")


def test_async_auth_and_deadline(fake_server: FakeServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(fake_server.target, auth=TokenAuth("tok")) as client:
            await client.process(JPEG, timeout_s=3.0)

    run(scenario)
    (call,) = fake_server.behaviour.calls
    assert call.metadata["authorization"] == "Bearer tok"
    # 1 s of slack: the grpc-timeout header rounds up.
    assert call.time_remaining_s is not None and 0 < call.time_remaining_s <= 3.0 + 1.0


def test_async_retries_unavailable_with_the_injected_sleep(fake_server: FakeServer) -> None:
    for _ in range(2):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "warming up")
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.25, jitter=0.0)

    async def scenario() -> ProcessStatus:
        async with AsyncClient(fake_server.target, retries=policy, sleep=fake_sleep) as client:
            return (await client.process(JPEG)).status

    assert run(scenario) is ProcessStatus.FOUND
    assert sleeps == [0.25, 0.5]
    assert len(fake_server.behaviour.calls) == 3


def test_async_retries_stop_at_the_limit(fake_server: FakeServer) -> None:
    for _ in range(5):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")

    async def no_sleep(seconds: float) -> None:
        return None

    async def scenario() -> None:
        policy = RetryPolicy(max_attempts=2, jitter=0.0)
        async with AsyncClient(fake_server.target, retries=policy, sleep=no_sleep) as client:
            await client.process(JPEG)

    with pytest.raises(Unavailable):
        run(scenario)
    assert len(fake_server.behaviour.calls) == 2


def test_async_closed_client_raises(fake_server: FakeServer) -> None:
    async def scenario() -> AsyncClient:
        client = AsyncClient(fake_server.target)
        async with client:
            await client.health()
        with pytest.raises(RuntimeError, match="this AsyncClient is closed"):
            await client.process(JPEG)
        with pytest.raises(RuntimeError, match="closed"):
            async with client:
                pass
        await client.close()  # idempotent
        return client

    assert run(scenario).is_closed


def test_async_client_built_outside_the_loop_works_inside_it(fake_server: FakeServer) -> None:
    """The channel opens on first use, so a client made before asyncio.run still works."""
    client = AsyncClient(fake_server.target)

    async def scenario() -> str:
        try:
            return await client.health()
        finally:
            await client.close()

    assert run(scenario) == "SERVING"


def test_closing_an_unused_async_client() -> None:
    async def scenario() -> bool:
        client = AsyncClient("127.0.0.1:1")
        await client.close()
        return client.is_closed

    assert run(scenario)
