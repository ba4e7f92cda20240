"""A real server under an address-space cap, for the hostile-input tests.

Every test here sends something a hostile or careless caller could send and then checks that the
server answered with the right code and is still serving. The cap (RLIMIT_AS) turns a future
memory blow-up into a failed test instead of a machine brought down by the kernel's OOM killer.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import ServerProcess, serving

# The server idles at ~1.9 GiB of address space (ONNX Runtime arenas, thread stacks, mapped
# models) and ~400 MB resident; a legitimate 40 MP photo peaks well under 4 GiB. 6 GiB leaves
# room for that and still stops any request that tries to take the 24 GiB machine.
MEMORY_LIMIT_BYTES = 6 * 1024**3


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[ServerProcess]:
    """One real server for every hostile test, under ``MEMORY_LIMIT_BYTES``."""
    yield from serving(ServerProcess(memory_limit_bytes=MEMORY_LIMIT_BYTES))


@pytest.fixture(scope="session")
def hostile_channel(hostile_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(hostile_server.target) as channel:
        yield channel


def assert_still_serving(channel: grpc.Channel) -> None:
    """The server answers health checks: it survived whatever the test sent."""
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10
    )
    assert response.status == health_pb2.HealthCheckResponse.SERVING
