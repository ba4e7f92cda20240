"""A real gRPC server on 127.0.0.1:0 running the fake Datalid services, for the SDK and CLI tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from datalid.v1 import admin_service_pb2_grpc, expiry_date_service_pb2_grpc, job_service_pb2_grpc
from tests.client.fakes import (
    FakeAdminService,
    FakeBehaviour,
    FakeExpiryDateService,
    FakeJobService,
    FakeServer,
)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A sync grpc server on 127.0.0.1:0 with the fake Datalid services (jobs too) and grpc.health.v1."""
    behaviour = FakeBehaviour()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    expiry_date_service_pb2_grpc.add_ExpiryDateServiceServicer_to_server(
        FakeExpiryDateService(behaviour), server
    )
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(FakeAdminService(behaviour), server)
    job_service_pb2_grpc.add_JobServiceServicer_to_server(FakeJobService(behaviour), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield FakeServer(f"127.0.0.1:{port}", behaviour, health_servicer)
    finally:
        server.stop(grace=None)
