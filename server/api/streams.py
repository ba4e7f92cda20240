"""One StreamFrames call: frames in, one FrameResult per frame out, in frame order.

Three parts share a queue of per-frame futures ("slots"), one slot per frame in arrival order:

- the reader takes frames off the wire and appends a slot for each; under DROP_POLICY_LATEST a
  new frame resolves every frame still waiting to start as skipped, so only the newest waiting
  frame is ever read and latency stays bounded when the camera is faster;
- ``max_in_flight`` workers process the waiting frames, oldest first, and resolve their slots;
- the writer sends the slots' answers in order through the call, so results leave in frame
  order, and feeds each processed frame's date to the stream's fusion.

At most ``max_buffered`` slots exist at once (frames waiting, being read, or answered and not yet
sent). The reader takes a place before it reads the next frame off the wire, so a full stream
reads nothing more: gRPC flow control then holds the client's sends, and a camera faster than the
pipeline (or a client that stops reading its results) costs the server at most ``max_buffered``
frames, never a queue that grows with the camera's rate.

A frame that fails is answered in-band with a google.rpc.Status, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from google.rpc import status_pb2

from datalid.v1 import expiry_date_service_pb2
from pipeline import InvalidInput, Priority, ProcessResult
from server import convert
from server.api.fusion import StreamFusion
from server.errors import status_of_exception
from server.host import PipelineHost

__all__ = ["FrameStream", "StreamIdle", "StreamSlots"]


class StreamIdle(Exception):
    """Raised by the response stream after its last result when no frame came for the idle timeout."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    frame_id: int
    skipped: bool = False
    result: ProcessResult | None = None
    error: status_pb2.Status | None = None


_Slot = asyncio.Future[_Outcome]


class FrameStream:
    """Runs one StreamFrames call.

    Args:
        host: gives the pipeline.
        request_id: stamped on each result.
        idle_timeout_s: the stream ends (StreamIdle) when no frame arrives for this long while
            it has room for one.
        fusion_window: frames that vote for the stream's best date.
        deadline: the call's deadline (``time.monotonic()``), or None.
        today: the server's date, the default reference date.
        max_buffered: frames read and not yet answered on the wire, at most (>= 1).
        max_message_bytes: a result whose pictures would take it past this many bytes is sent
            without them (``pictures_omitted``).
        max_in_flight: frames of this stream processed at once.
        max_detections_limit: the largest ``options.max_detections`` a frame may ask for; more
            is answered INVALID_ARGUMENT in-band.
    """

    def __init__(
        self,
        host: PipelineHost,
        *,
        request_id: str,
        idle_timeout_s: float,
        fusion_window: int,
        deadline: float | None,
        today: Callable[[], dt.date],
        max_buffered: int,
        max_message_bytes: int,
        max_in_flight: int = 1,
        max_detections_limit: int = convert.MAX_DETECTIONS_LIMIT,
    ) -> None:
        self._host = host
        self._request_id = request_id
        self._idle_timeout_s = idle_timeout_s
        self._fusion = StreamFusion(fusion_window)
        self._deadline = deadline
        self._today = today
        self._max_message_bytes = max_message_bytes
        self._max_in_flight = max_in_flight
        self._max_detections_limit = max_detections_limit
        # Bounded by _room: the reader takes a place before each frame, the writer frees it once
        # the frame's answer is sent. The end marker (None) needs no place.
        self._room = asyncio.Semaphore(max_buffered)
        self._slots: asyncio.Queue[_Slot | None] = asyncio.Queue()
        self._waiting: deque[tuple[expiry_date_service_pb2.Frame, _Slot]] = deque()
        self._has_work = asyncio.Condition()
        self._idle = False

    async def run(
        self,
        frames: AsyncIterator[expiry_date_service_pb2.Frame],
        send: Callable[[expiry_date_service_pb2.FrameResult], Awaitable[None]],
    ) -> None:
        """Sends one result per frame through ``send``, in frame order, until the frames end.

        Everything the stream started (reader, workers, frames being read) is cancelled when
        this returns or raises, cancellation of the call included.

        Raises:
            StreamIdle: after the last result, if the stream ended because no frame came.
        """
        tasks = [asyncio.create_task(self._read(frames))]
        tasks += [asyncio.create_task(self._work()) for _ in range(self._max_in_flight)]
        try:
            while (slot := await self._slots.get()) is not None:
                await send(self._answer(await slot))
                self._room.release()
            tasks[0].result()  # the reader's own failure, if any, ends the call
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._idle:
            raise StreamIdle(f"no frame for {self._idle_timeout_s:g} s")

    async def _read(self, frames: AsyncIterator[expiry_date_service_pb2.Frame]) -> None:
        iterator = aiter(frames)
        loop = asyncio.get_running_loop()
        try:
            while True:
                # A place first, then the wire: a full stream leaves the next frame to flow control.
                await self._room.acquire()
                try:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for runs the read as a task
                    # of its own and loses a cancellation that lands as the read ends, and this
                    # reader then waited for room for ever while run() waited for it (a client
                    # that stopped reading and cancelled: its stream never ended, its slot was
                    # held and nothing logged; tests/hostile/test_streams.py, 1 run in 6 on a
                    # loaded 2-core machine).
                    async with asyncio.timeout(self._idle_timeout_s):
                        frame = await anext(iterator)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    self._idle = True
                    return
                slot: _Slot = loop.create_future()
                self._slots.put_nowait(slot)
                try:
                    policy = convert.drop_policy_from_pb(frame)
                except InvalidInput as exc:
                    slot.set_result(_Outcome(frame.frame_id, error=status_of_exception(exc)))
                    continue
                async with self._has_work:
                    if policy == expiry_date_service_pb2.DROP_POLICY_LATEST:
                        while self._waiting:
                            stale, stale_slot = self._waiting.popleft()
                            stale_slot.set_result(_Outcome(stale.frame_id, skipped=True))
                    self._waiting.append((frame, slot))
                    self._has_work.notify()
        finally:
            # Frames read but never started are answered (their slots are in the queue), then the end.
            self._slots.put_nowait(None)

    async def _work(self) -> None:
        while True:
            async with self._has_work:
                await self._has_work.wait_for(lambda: bool(self._waiting))
                frame, slot = self._waiting.popleft()
            slot.set_result(await self._process(frame))

    async def _process(self, frame: expiry_date_service_pb2.Frame) -> _Outcome:
        try:
            options = convert.options_from_pb(
                frame.options, self._today(), max_detections_limit=self._max_detections_limit
            )
            result = await self._host.pipeline.aprocess(
                frame.image, options, deadline=self._deadline, priority=Priority.INTERACTIVE
            )
            return _Outcome(frame.frame_id, result=result)
        except Exception as exc:  # in-band: the stream goes on (a bug is INTERNAL, and logged)
            return _Outcome(frame.frame_id, error=status_of_exception(exc))

    def _answer(self, outcome: _Outcome) -> expiry_date_service_pb2.FrameResult:
        answer = expiry_date_service_pb2.FrameResult(frame_id=outcome.frame_id, skipped=outcome.skipped)
        if outcome.result is not None:
            answer.result.CopyFrom(convert.result_to_pb(outcome.result, self._request_id))
            convert.fit_pictures(answer, self._max_message_bytes)
            fused = self._fusion.add(outcome.result.best_date)
        else:
            if outcome.error is not None:
                answer.error.CopyFrom(outcome.error)
            fused = self._fusion.answer
        if fused is not None:
            answer.stream_best_date.CopyFrom(convert.date_to_pb(fused.finding))
            answer.agreeing_frames = fused.agreeing_frames
        return answer


class StreamSlots:
    """Counts each principal's open streams and refuses one beyond the limit."""

    def __init__(self, per_principal: int) -> None:
        self._per_principal = per_principal
        self._open: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, principal_id: str, refuse: Callable[[str], Exception]) -> Iterator[None]:
        """Holds one slot of ``principal_id`` for the with-block; raises ``refuse(msg)`` when full."""
        if self._open.get(principal_id, 0) >= self._per_principal:
            raise refuse(f"at most {self._per_principal} concurrent streams per caller")
        self._open[principal_id] = self._open.get(principal_id, 0) + 1
        try:
            yield
        finally:
            self._open[principal_id] -= 1
            if not self._open[principal_id]:
                del self._open[principal_id]
