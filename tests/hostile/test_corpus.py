"""Replays the fuzz corpus against a real server under its memory cap.

Every seed image (real files, damaged ones, bombs' headers, extreme strips, bytes after the end
marker) goes through ``Process``; every seed request goes over the wire as the raw bytes of its
message, malformed or not. The only answers allowed are a result or INVALID_ARGUMENT, and after
all of them the server is still serving. New crashes the long fuzz runs find are added to the
corpus, so this replay keeps them fixed.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from datalid.v1 import types_pb2
from tests.fuzz.__main__ import CORPUS
from tests.hostile.conftest import assert_still_serving

pytestmark = pytest.mark.slow

_ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
_PROCESS = "/datalid.v1.ExpiryDateService/Process"
_TIMEOUT_S = 60


def _code(call: grpc.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    send_raw = call.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        send_raw(payload, timeout=_TIMEOUT_S)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _seeds(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


def test_every_corpus_image_is_read_or_refused(hostile_channel: grpc.Channel) -> None:
    answers = {}
    for seed in _seeds("decode"):
        request = types_pb2.ProcessRequest(image=seed.read_bytes())
        answers[seed.name] = _code(hostile_channel, _PROCESS, request.SerializeToString())
    assert {name: code for name, code in answers.items() if code not in _ALLOWED} == {}
    assert_still_serving(hostile_channel)


def test_every_corpus_request_is_answered_or_refused(hostile_channel: grpc.Channel) -> None:
    """Each request seed's message bytes go to Process: a ProcessRequest's are read as one, every
    other message's are foreign or malformed there. (Never to ProcessUrl: a fuzzed URL could name
    a host off this machine.)"""
    answers = {}
    for seed in _seeds("request"):
        data = seed.read_bytes()
        answers[seed.name] = _code(hostile_channel, _PROCESS, data[1:])
    assert {name: code for name, code in answers.items() if code not in _ALLOWED} == {}
    assert_still_serving(hostile_channel)
