"""The sync Client against a real gRPC server: calls, metadata, deadlines, retries and lifecycle."""

from __future__ import annotations

import datetime as dt
import random
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

import datalid_client
from datalid_client import (
    ApiKeyAuth,
    Client,
    DateOrder,
    DeadlineExceeded,
    InvalidInput,
    ModelState,
    ProcessOptions,
    ProcessStatus,
    ResourceExhausted,
    RetryPolicy,
    TokenAuth,
    Unavailable,
)
from datalid_client._retry import _CallPlan
from tests.client.fakes import JPEG, FakeServer


def test_process_returns_domain_result(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        result = client.process(JPEG)
    assert result.status is ProcessStatus.FOUND
    assert result.best_date is not None and result.best_date.date == dt.date(2026, 12, 31)
    assert result.timings.total_ms == 357.25
    (call,) = fake_server.behaviour.calls
    assert call.method == "Process"
    assert call.request.image == JPEG
    assert not call.request.HasField("options"), "no options: the server applies its defaults"


def test_options_arrive_with_presence(fake_server: FakeServer) -> None:
    options = ProcessOptions(detection_iou=0.0, reference_date=dt.date(2027, 1, 2), date_order=DateOrder.YMD)
    with Client(fake_server.target) as client:
        client.process(JPEG, options)
    wire = fake_server.behaviour.calls[0].request.options
    assert wire.HasField("detection_iou") and wire.detection_iou == 0.0
    assert not wire.HasField("detection_confidence")
    assert not wire.HasField("max_detections")
    assert not wire.HasField("full_image_fallback")
    assert wire.reference_date == "2027-01-02"
    assert wire.date_order == 3  # DATE_ORDER_YMD


def test_process_reads_a_path(fake_server: FakeServer, tmp_path: Path) -> None:
    image = tmp_path / "label.jpg"
    image.write_bytes(JPEG)
    with Client(fake_server.target) as client:
        client.process(image)
        client.process(str(image))
    assert [c.request.image for c in fake_server.behaviour.calls] == [JPEG, JPEG]


def test_process_missing_file_raises_oserror_without_calling(fake_server: FakeServer, tmp_path: Path) -> None:
    with Client(fake_server.target) as client, pytest.raises(FileNotFoundError):
        client.process(tmp_path / "missing.jpg")
    assert fake_server.behaviour.calls == []


@pytest.mark.parametrize(
    ("data", "given", "expected"),
    [
        (JPEG, None, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", None, "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"BM\x00\x00", None, "image/bmp"),
        (b"???", None, "application/octet-stream"),
        (JPEG, "image/x-custom", "image/x-custom"),
    ],
)
def test_process_upload_sends_http_body(
    fake_server: FakeServer, data: bytes, given: str | None, expected: str
) -> None:
    with Client(fake_server.target) as client:
        result = client.process_upload(data, content_type=given)
    assert result.status is ProcessStatus.FOUND
    (call,) = fake_server.behaviour.calls
    assert call.method == "ProcessUpload"
    assert (call.request.body.content_type, call.request.body.data) == (expected, data)
    assert not call.request.HasField("options")


def test_process_upload_sends_options(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        client.process_upload(JPEG, options=ProcessOptions(reference_date=dt.date(2026, 11, 1)))
    (call,) = fake_server.behaviour.calls
    assert call.request.options.reference_date == "2026-11-01"


def test_server_info_models_and_health(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        info = client.server_info()
        models = client.list_models()
        assert client.health() == "SERVING"
        fake_server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert client.health() == "NOT_SERVING"
        with pytest.raises(datalid_client.NotFound):
            client.health("no.such.Service")
    assert info.version == "9.9.9"
    assert info.available_providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert info.ready and info.max_image_pixels == 40_000_000
    assert info.started_at == dt.datetime.fromtimestamp(1_790_000_000, tz=dt.UTC)
    assert [m.name for m in models] == ["detector"]
    assert models[0].state is ModelState.READY
    assert models[0].inputs[0].shape == (-1, 3, 320, 320)


@pytest.mark.parametrize(
    ("auth", "key", "value"),
    [(TokenAuth("s3cret"), "authorization", "Bearer s3cret"), (ApiKeyAuth("k-123"), "x-api-key", "k-123")],
)
def test_auth_metadata_arrives(
    fake_server: FakeServer, auth: datalid_client.Auth, key: str, value: str
) -> None:
    with Client(fake_server.target, auth=auth) as client:
        client.process(JPEG)
        client.server_info()
    assert [c.metadata.get(key) for c in fake_server.behaviour.calls] == [value, value]


def test_no_auth_sends_no_credentials(fake_server: FakeServer) -> None:
    with Client(fake_server.target) as client:
        client.process(JPEG)
    metadata = fake_server.behaviour.calls[0].metadata
    assert "authorization" not in metadata and "x-api-key" not in metadata
    assert metadata["user-agent"].startswith("datalid-client/")


def test_auth_rejects_bad_values_and_hides_secrets() -> None:
    with pytest.raises(ValueError, match="token must be a non-empty string"):
        TokenAuth("")
    with pytest.raises(ValueError, match="line breaks"):
        ApiKeyAuth("abc\ndef")
    assert "s3cret" not in repr(TokenAuth("s3cret"))


def test_call_timeout_becomes_the_server_deadline(fake_server: FakeServer) -> None:
    with Client(fake_server.target, timeout_s=100.0) as client:
        client.process(JPEG, timeout_s=5.0)
        client.process(JPEG)
    per_call, default = (c.time_remaining_s for c in fake_server.behaviour.calls)
    # Slack of 1 s: the grpc-timeout header rounds up (to whole seconds for long timeouts).
    assert per_call is not None and 0 < per_call <= 5.0 + 1.0
    assert default is not None and 5.0 + 1.0 < default <= 100.0 + 1.0


def test_no_timeout_means_no_deadline(fake_server: FakeServer) -> None:
    with Client(fake_server.target, timeout_s=None) as client:
        client.process(JPEG)
    remaining = fake_server.behaviour.calls[0].time_remaining_s
    # grpc reports "no deadline" as None or as an effectively infinite time.
    assert remaining is None or remaining > 1e6


def test_invalid_timeouts_are_rejected(fake_server: FakeServer) -> None:
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        Client(fake_server.target, timeout_s=0)
    with Client(fake_server.target) as client, pytest.raises(ValueError, match="got -1"):
        client.process(JPEG, timeout_s=-1)


def test_deadline_passing_on_the_server_raises_deadline_exceeded(fake_server: FakeServer) -> None:
    gate = fake_server.behaviour.gate = threading.Event()
    try:
        client = Client(fake_server.target, retries=_policy(3), sleep=pytest.fail)
        with client, pytest.raises(DeadlineExceeded) as info:
            client.process(JPEG, timeout_s=0.2)
    finally:
        gate.set()
    assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(fake_server.behaviour.calls) == 1, "DEADLINE_EXCEEDED is not retried"


def test_max_message_bytes_limits_what_the_client_accepts(fake_server: FakeServer) -> None:
    with Client(fake_server.target, max_message_bytes=64) as client, pytest.raises(ResourceExhausted):
        client.process(JPEG)  # the canned response is larger than 64 bytes
    overridden = [("grpc.max_receive_message_length", 1 << 20)]
    with Client(fake_server.target, max_message_bytes=64, options=overridden) as client:
        client.process(JPEG)  # the caller's channel options win


# --- retries -------------------------------------------------------------------------------------


def _policy(max_attempts: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, initial_backoff_s=0.5, max_backoff_s=4.0, jitter=0.0)


def test_unavailable_is_retried_until_success(fake_server: FakeServer) -> None:
    for _ in range(2):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "warming up")
    sleeps: list[float] = []
    with Client(fake_server.target, retries=_policy(3), sleep=sleeps.append) as client:
        result = client.process(JPEG)
    assert result.status is ProcessStatus.FOUND
    assert len(fake_server.behaviour.calls) == 3
    assert sleeps == [0.5, 1.0], "exponential backoff"


def test_retries_stop_at_max_attempts(fake_server: FakeServer) -> None:
    for _ in range(5):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
    sleeps: list[float] = []
    with (
        Client(fake_server.target, retries=_policy(3), sleep=sleeps.append) as client,
        pytest.raises(Unavailable, match="down"),
    ):
        client.process(JPEG)
    assert len(fake_server.behaviour.calls) == 3
    assert len(sleeps) == 2


def test_retries_none_makes_one_attempt(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
    with Client(fake_server.target, retries=None, sleep=pytest.fail) as client, pytest.raises(Unavailable):
        client.process(JPEG)
    assert len(fake_server.behaviour.calls) == 1


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED],
    ids=lambda c: c.name,
)
def test_other_codes_are_not_retried(fake_server: FakeServer, code: grpc.StatusCode) -> None:
    fake_server.behaviour.fail_next(code, "no retry")
    with (
        Client(fake_server.target, retries=_policy(5), sleep=pytest.fail) as client,
        pytest.raises(datalid_client.DatalidError),
    ):
        client.process(JPEG)
    assert len(fake_server.behaviour.calls) == 1


def test_invalid_input_is_not_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    with (
        Client(fake_server.target, retries=_policy(5), sleep=pytest.fail) as client,
        pytest.raises(InvalidInput),
    ):
        client.process(JPEG)


class FakeClock:
    """A monotonic clock that only moves when the fake sleep is called."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_each_attempt_gets_only_the_time_left(fake_server: FakeServer) -> None:
    for _ in range(2):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=2.0, max_backoff_s=8.0, jitter=0.0)
    with Client(fake_server.target, retries=policy, sleep=clock.sleep, clock=clock) as client:
        client.process(JPEG, timeout_s=10.0)
    assert clock.sleeps == [2.0, 4.0]
    remaining = [c.time_remaining_s for c in fake_server.behaviour.calls]
    # Upper bounds only (real time passing only shrinks what is left), with 1 s of slack for the
    # rounding-up of the grpc-timeout header.
    slack = 1.0
    assert remaining[0] is not None and remaining[0] <= 10.0 + slack
    assert remaining[1] is not None and remaining[1] <= 8.0 + slack
    assert remaining[2] is not None and remaining[2] <= 4.0 + slack


def test_retries_stop_when_the_backoff_would_pass_the_deadline(fake_server: FakeServer) -> None:
    for _ in range(5):
        fake_server.behaviour.fail_next(grpc.StatusCode.UNAVAILABLE, "down")
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=10, initial_backoff_s=2.0, max_backoff_s=8.0, jitter=0.0)
    with (
        Client(fake_server.target, retries=policy, sleep=clock.sleep, clock=clock) as client,
        pytest.raises(Unavailable),
    ):
        client.process(JPEG, timeout_s=5.0)
    # Attempt 1 at t=0, wait 2, attempt 2 at t=2; a 4 s wait would end at t=6 > 5: stop.
    assert clock.sleeps == [2.0]
    assert len(fake_server.behaviour.calls) == 2


def test_call_plan_raises_deadline_exceeded_when_no_time_is_left() -> None:
    clock = FakeClock()
    plan = _CallPlan(_policy(3), random.Random(0), clock, timeout_s=1.0)
    assert plan.next_timeout_s() == 1.0
    clock.now += 1.0
    with pytest.raises(DeadlineExceeded, match="deadline passed before attempt 2"):
        plan.next_timeout_s()


def test_jitter_is_bounded_and_seedable() -> None:
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=3.0, jitter=0.5, seed=7)
    waits = [policy.backoff_s(n, random.Random(7)) for n in range(1, 6)]
    assert waits == [policy.backoff_s(n, random.Random(7)) for n in range(1, 6)]
    bases = [1.0, 2.0, 3.0, 3.0, 3.0]
    assert all(0.5 * b <= w <= 1.5 * b for w, b in zip(waits, bases, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be >= 1, got 0"),
        ({"jitter": 2.0}, "jitter must be between 0 and 1, got 2.0"),
        ({"multiplier": 0.5}, "multiplier must be >= 1, got 0.5"),
        ({"initial_backoff_s": 5.0, "max_backoff_s": 1.0}, "max_backoff_s must be >= initial_backoff_s"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_unreachable_server_is_unavailable_after_retries() -> None:
    sleeps: list[float] = []
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    with (
        Client("127.0.0.1:1", retries=_policy(2), sleep=sleeps.append, timeout_s=10.0) as client,
        pytest.raises(Unavailable),
    ):
        client.server_info()
    assert sleeps == [0.5]


# --- lifecycle -----------------------------------------------------------------------------------


def test_closed_client_raises_a_clear_error(fake_server: FakeServer) -> None:
    client = Client(fake_server.target)
    with client:
        client.process(JPEG)
    assert client.is_closed
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="this Client is closed; create a new one"):
        client.process(JPEG)
    with pytest.raises(RuntimeError, match="closed"):
        client.health()
    with pytest.raises(RuntimeError, match="closed"), client:
        pass
    client.close()  # idempotent


def test_public_surface() -> None:
    public = sorted(n for n in vars(datalid_client) if not n.startswith("_") and n not in {"annotations"})
    exported = sorted(n for n in datalid_client.__all__ if n != "__version__")
    assert sorted(set(public) - {"cli", "client"}) == exported
    for name in datalid_client.__all__:
        assert getattr(datalid_client, name) is not None
