"""What hostile inputs cost, next to normal ones measured in the same run (issue 11).

    .venv/bin/python -m bench.hostile decode [--repeats 5]
    .venv/bin/python -m bench.hostile flood [--connections 30 --streams 10]
    .venv/bin/python -m bench.hostile fit [--repeats 5]
    .venv/bin/python -m bench.hostile all [--json PATH]

``decode``: ``pipeline.decode.decode_image`` (median of ``--repeats``) on a 12 MP JPEG, PNG and
progressive JPEG drawn in code (fixed seed), and on hostile files built in code: PNG image data
inflating to 1 GiB (zlib streamed, so this process never holds it), a 40 MP progressive JPEG with
its last scan repeated 2000 times, a 15 MB JPEG of empty COM segments, a 16 x 40000 PNG strip.
Each row says refused or decoded, the time, and the ratio to the normal JPEG's time.

``flood``: a real server subprocess (defaults, RLIMIT_AS 6 GiB) flooded over raw HTTP/2 from
loopback (``tests/hostile/h2flood.py``): connections x streams to Process, each declaring a
16 MiB message and sending all that flow control allows but its end, without credentials. Once
sending has stalled, normal Process calls are timed during the flood and compared with before.
Run twice: beyond max_concurrent_rpcs (the default 30 x 10) and just under it (6 x 10), where
free slots remain and the latency under the parked memory means something. Reports streams
accepted and refused, peak RSS growth against the bound ``server/app.py _transport_options``
states, and the server's exit code after SIGTERM.

``fit``: ``server.convert.fit_pictures`` on a 64-item ProcessBatchResponse with 1.2 MB pictures
each, against one ``ByteSize()`` of the whole message.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench._common import host_description, write_json
from pipeline.config import DecodeLimits
from pipeline.decode import decode_image
from pipeline.errors import InvalidInput
from tests.image_files import encode, png_chunk, progressive_jpeg_with_repeated_scan

MIB = 1024 * 1024
GIB = 1024 * MIB

# -- decode ----------------------------------------------------------------------------------------


def _photo(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like BGR image: gradients, 2 bits of noise, shapes and printed dates."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (60 + 120 * x * (1 - y)).astype(np.uint8)
    image[..., 1] = (80 + 100 * y + 40 * np.sin(6 * x)).astype(np.uint8)
    image[..., 2] = (140 + 80 * x * y).astype(np.uint8)
    image += rng.integers(0, 4, image.shape, np.uint8)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width - 400)), int(rng.integers(0, height - 300))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(
            image, (x0, y0), (x0 + int(rng.integers(50, 400)), y0 + int(rng.integers(30, 300))), color, -1
        )
    for row in range(8):
        text = f"EXP {row + 1:02d}/11/2027  LOT {int(rng.integers(10**5, 10**6))}"
        cv2.putText(image, text, (200, 300 + row * 330), cv2.FONT_HERSHEY_SIMPLEX, 5, (20, 20, 20), 12)
    return image


def _zeros_deflated(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (a multiple of 1 MiB), built without holding them.

    Level 9 takes ~3 s per GiB; once the window is all zeros, each sync-flushed MiB compresses to
    the same bytes, so that piece is repeated and the stream closed by hand (adler32 of zeros).
    """
    assert size % MIB == 0 and size >= 4 * MIB
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9)
    pieces = []
    for _ in range(3):
        pieces.append(compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH))
    assert pieces[1] == pieces[2], "steady-state pieces differ"
    # The last block: an empty final fixed-Huffman block (BFINAL=1, BTYPE=01, end code), 3 bytes
    # padded; then adler32 of `size` zeros: a = 1, b = size mod 65521.
    final = b"\x03\x00"
    adler = ((size % 65521) << 16) | 1
    return pieces[0] + pieces[1] * (size // MIB - 1) + final + struct.pack(">I", adler)


def _png_with_data(width: int, height: int, stream: bytes) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` whose IDAT chunks carry ``stream``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idats = b"".join(png_chunk(b"IDAT", stream[i : i + MIB]) for i in range(0, len(stream), MIB))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idats + png_chunk(b"IEND", b"")


def _progressive_with_repeated_scan(width: int, height: int, extra_scans: int) -> bytes:
    """A progressive JPEG (libjpeg's 10 scans) with its last scan, a refinement, repeated.

    As tests/pipeline/test_decode.py builds it, but of flat content with a few shapes, so that at
    40 MP the repeated refinement scan stays small and 2000 of them fit the 16 MiB byte limit.
    """
    image = np.full((height, width, 3), 128, np.uint8)
    rng = np.random.default_rng(29)
    for _ in range(20):
        x0, y0 = int(rng.integers(0, width - 500)), int(rng.integers(0, height - 500))
        image[y0 : y0 + 400, x0 : x0 + 400] = rng.integers(0, 256, 3, np.uint8)
    return progressive_jpeg_with_repeated_scan(image, extra_scans)


def _jpeg_of_empty_comments(total_bytes: int) -> bytes:
    """A real small JPEG with ``total_bytes`` of empty COM segments between its header and scan."""
    jpeg = encode(".jpg", _photo(640, 480, 3))
    sos = jpeg.index(b"\xff\xda")
    unit = b"\xff\xfe\x00\x02"
    return jpeg[:sos] + unit * ((total_bytes - len(jpeg)) // len(unit)) + jpeg[sos:]


def decode_inputs() -> dict[str, tuple[str, bytes]]:
    """Name -> (kind, file bytes): the normal inputs first, the first of them the reference."""
    photo = _photo(4000, 3000, 7)
    inflated = _zeros_deflated(GIB)
    strip = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (40000, 1, 3))
    return {
        "12 MP JPEG (4000x3000, q95)": ("normal", encode(".jpg", photo)),
        "12 MP PNG": ("normal", encode(".png", photo)),
        "12 MP progressive JPEG": ("normal", encode(".jpg", photo, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))),
        "PNG, 12 MP header, IDAT inflating to 1 GiB": ("hostile", _png_with_data(4000, 3000, inflated)),
        "PNG, 200x100 header, IDAT inflating to 1 GiB": ("hostile", _png_with_data(200, 100, inflated)),
        "40 MP progressive JPEG, last scan x2000": (
            "hostile",
            _progressive_with_repeated_scan(7300, 5479, 2000),
        ),
        "15 MB JPEG of empty COM segments": ("hostile", _jpeg_of_empty_comments(15 * 10**6)),
        "16x40000 PNG strip": ("hostile", encode(".png", strip)),
    }


def _time_decode(data: bytes, repeats: int) -> tuple[str, list[float]]:
    limits = DecodeLimits()
    times = []
    outcome = ""
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            height, width = decode_image(data, limits).shape[:2]  # nothing kept between repeats
            outcome = f"decoded {width}x{height}"
        except InvalidInput as exc:
            outcome = f"refused: {exc.description}"
        times.append(time.perf_counter() - started)
    return outcome, times


def run_decode(repeats: int) -> dict[str, Any]:
    started = time.perf_counter()
    inputs = decode_inputs()
    built_s = time.perf_counter() - started
    rows = []
    reference_s = None
    for name, (kind, data) in inputs.items():
        outcome, times = _time_decode(data, repeats)
        median_s = statistics.median(times)
        if reference_s is None:
            reference_s = median_s
        rows.append(
            {
                "input": name,
                "kind": kind,
                "bytes": len(data),
                "outcome": outcome,
                "median_ms": round(median_s * 1000, 2),
                "min_ms": round(min(times) * 1000, 2),
                "ratio_to_normal_jpeg": round(median_s / reference_s, 3),
            }
        )
    print(f"\ndecode_image, median of {repeats} (inputs built in {built_s:.1f} s)\n")
    print("| input | size | outcome | median | ratio to 12 MP JPEG |")
    print("| --- | ---: | --- | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['input']} | {row['bytes'] / 10**6:.2f} MB | {_short(row['outcome'])} "
            f"| {row['median_ms']:.1f} ms | {row['ratio_to_normal_jpeg']:.3f} |"
        )
    return {"repeats": repeats, "rows": rows}


def _short(outcome: str, limit: int = 90) -> str:
    return outcome if len(outcome) <= limit else outcome[: limit - 3] + "..."


# -- flood -----------------------------------------------------------------------------------------

# tests/hostile/conftest.py's cap: the server idles at ~1.9 GiB of address space.
MEMORY_LIMIT_BYTES = 6 * GIB
# Sending counts as stalled once no stream got window for this long.
_STALL_S = 3.0


def _process_call(stub: Any, request: Any) -> tuple[str, float]:
    import grpc

    started = time.perf_counter()
    try:
        response = stub.Process(request, timeout=60)
        code = "OK " + response.best_date.date
    except grpc.RpcError as exc:
        code = exc.code().name
    return code, time.perf_counter() - started


def _calls(stub: Any, request: Any, count: int) -> list[tuple[str, float]]:
    return [_process_call(stub, request) for _ in range(count)]


def _summary(calls: list[tuple[str, float]]) -> dict[str, Any]:
    codes: dict[str, int] = {}
    for code, _ in calls:
        codes[code] = codes.get(code, 0) + 1
    return {"codes": codes, "median_ms": round(statistics.median(s for _, s in calls) * 1000, 1)}


def _one_flood(
    server: Any,
    stub: Any,
    request: Any,
    connections: int,
    streams: int,
    message_bytes: int,
    limit_s: float,
    calls: int,
) -> dict[str, Any]:
    from tests.hostile import h2flood

    baseline = server.rss_bytes()
    peak = baseline
    progress = {"sent": -1, "since": time.monotonic()}
    steady = threading.Event()
    done = threading.Event()
    during: list[tuple[str, float]] = []
    timeline: list[tuple[float, int]] = []
    started = time.monotonic()

    def caller() -> None:
        if steady.wait(limit_s):
            during.extend(_calls(stub, request, calls))
        done.set()

    def tick(conns: list[h2flood.Connection]) -> bool:
        nonlocal peak
        rss = server.rss_bytes()
        peak = max(peak, rss)
        now = time.monotonic()
        if not timeline or now - timeline[-1][0] - started >= 1.0:
            timeline.append((now - started, rss))
        sent = sum(sum(conn.sent.values()) for conn in conns)
        if sent != progress["sent"]:
            progress.update(sent=sent, since=now)
        elif now - progress["since"] >= _STALL_S:
            steady.set()
        return done.is_set()

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    conns = h2flood.flood(server.port, connections, streams, message_bytes, limit_s, tick)
    steady.set()  # the flood ended before stalling (limit, or the server closed it)
    thread.join(timeout=120)
    flood_s = time.monotonic() - started

    opened = connections * streams
    refusals: dict[str, int] = {}
    for conn in conns:
        for how in conn.refused.values():
            refusals[how] = refusals.get(how, 0) + 1
    refused = sum(refusals.values())
    read = sum(
        1
        for conn in conns
        for sid, n in conn.sent.items()
        if sid not in conn.refused and n > h2flood.STREAM_WINDOW_BYTES
    )
    return {
        "connections": connections,
        "streams_per_connection": streams,
        "declared_message_bytes": message_bytes,
        "streams_opened": opened,
        "streams_refused": refused,
        "refusals": refusals,
        "streams_accepted": opened - refused,
        "accepted_streams_read_past_64KiB": read,
        "connections_closed_by_server": sum(conn.closed_by_server for conn in conns),
        "bytes_sent": sum(sum(conn.sent.values()) for conn in conns),
        "rss_before_mb": round(baseline / 10**6),
        "rss_peak_mb": round(peak / 10**6),
        "rss_growth_mb": round((peak - baseline) / 10**6),
        "rss_timeline_mb": [(round(t, 1), round(r / 10**6)) for t, r in timeline],
        "flood_s": round(flood_s, 1),
        "stalled": bool(during),
        "process_during": _summary(during) if during else None,
    }


def run_flood(
    connections: int, streams: int, under_connections: int, limit_s: float, calls: int
) -> dict[str, Any]:
    import grpc

    from datalid.v1 import expiry_date_service_pb2_grpc, types_pb2
    from pipeline.synth import render_label
    from server.config import ServerConfig
    from tests.conftest import ServerProcess
    from tests.hostile import h2flood

    config = ServerConfig()
    message_bytes = config.max_message_bytes
    bound = (
        config.max_concurrent_rpcs * config.max_message_bytes
        + config.max_connections * config.max_streams_per_connection * h2flood.STREAM_WINDOW_BYTES
    )
    request = types_pb2.ProcessRequest(
        image=render_label(["Use by", "16/11/2026"]),
        options=types_pb2.ProcessOptions(reference_date="2026-11-01"),
    )
    server = ServerProcess(memory_limit_bytes=MEMORY_LIMIT_BYTES).start()
    report: dict[str, Any] = {
        "server": "defaults, RLIMIT_AS 6 GiB",
        "max_concurrent_rpcs": config.max_concurrent_rpcs,
        "max_message_bytes": message_bytes,
        "max_connections": config.max_connections,
        "max_streams_per_connection": config.max_streams_per_connection,
        "stated_bound_mb": round(bound / 10**6),
    }
    try:
        server.wait_serving()
        report["rss_idle_mb"] = round(server.rss_bytes() / 10**6)
        with grpc.insecure_channel(server.target) as channel:
            stub = expiry_date_service_pb2_grpc.ExpiryDateServiceStub(channel)
            _process_call(stub, request)  # warms the models' arenas
            report["rss_serving_mb"] = round(server.rss_bytes() / 10**6)
            report["process_before"] = _summary(_calls(stub, request, calls))
            floods = []
            for conns in (connections, under_connections):
                print(f"flood: {conns} connections x {streams} streams ...", file=sys.stderr)
                floods.append(
                    _one_flood(server, stub, request, conns, streams, message_bytes, limit_s, calls)
                )
                time.sleep(2)  # the server cancels the closed connections' calls
                floods[-1]["process_after"] = _summary(_calls(stub, request, calls))
            report["floods"] = floods
    finally:
        report["exit_code"] = server.stop()
    report["log_errors"] = [line for line in server.log if " ERROR " in line or "Traceback" in line][:10]

    print(
        f"\nflood: a real server ({report['server']}); each stream declares a "
        f"{message_bytes // MIB} MiB message and never finishes it\n"
    )
    print(
        "| connections x streams | accepted | refused | accepted streams read past 64 KiB "
        "| RSS before -> peak (growth) | Process before | Process during | Process after |"
    )
    print("| --- | ---: | --- | ---: | --- | --- | --- | --- |")
    for f in report["floods"]:
        refusals = ", ".join(f"{n} {how}" for how, n in sorted(f["refusals"].items())) or "0"
        print(
            f"| {f['connections']} x {f['streams_per_connection']} | {f['streams_accepted']} | {refusals} "
            f"| {f['accepted_streams_read_past_64KiB']} "
            f"| {f['rss_before_mb']} -> {f['rss_peak_mb']} MB (+{f['rss_growth_mb']}) "
            f"| {_call_cell(report['process_before'])} | {_call_cell(f['process_during'])} "
            f"| {_call_cell(f['process_after'])} |"
        )
    print(
        f"\nRSS idle {report['rss_idle_mb']} MB, serving {report['rss_serving_mb']} MB; stated bound "
        f"{report['max_concurrent_rpcs']} x {message_bytes // MIB} MiB + {report['max_connections']} x "
        f"{report['max_streams_per_connection']} x 64 KiB = {report['stated_bound_mb']} MB; "
        f"exit code after SIGTERM {report['exit_code']}"
    )
    return report


def _call_cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "not run"
    codes = ", ".join(f"{n} {code}" for code, n in summary["codes"].items())
    return f"{codes}, median {summary['median_ms']:.0f} ms"


# -- fit -------------------------------------------------------------------------------------------


def _batch(items: int, picture_bytes: int) -> Any:
    from datalid.v1 import expiry_date_service_pb2, types_pb2

    rng = np.random.default_rng(5)
    message = expiry_date_service_pb2.ProcessBatchResponse()
    for index in range(items):
        response = types_pb2.ProcessResponse(
            request_id=f"req-{index}",
            image_width=4000,
            image_height=3000,
            visualization_jpeg=rng.bytes(picture_bytes),
            crops_jpeg=[rng.bytes(20_000)],
        )
        response.ocr_lines.add(text="EXP 16/11/2026", confidence=0.9)
        response.dates.add(date="2026-11-16")
        message.items.add(index=index, result=response)
    return message


def run_fit(repeats: int, items: int = 64, picture_bytes: int = 1_200_000) -> dict[str, Any]:
    from server.config import ServerConfig
    from server.convert import fit_pictures

    limit = ServerConfig().max_message_bytes
    fit_times, size_times = [], []
    kept = 0
    for _ in range(repeats):
        message = _batch(items, picture_bytes)
        started = time.perf_counter()
        size = message.ByteSize()
        size_times.append(time.perf_counter() - started)
        message = _batch(items, picture_bytes)
        started = time.perf_counter()
        fit_pictures(message, limit)
        fit_times.append(time.perf_counter() - started)
        kept = sum(not item.result.pictures_omitted for item in message.items)
        assert message.ByteSize() <= limit
    fit_s, size_s = statistics.median(fit_times), statistics.median(size_times)
    report = {
        "items": items,
        "picture_bytes": picture_bytes,
        "message_bytes": size,
        "limit_bytes": limit,
        "pictures_kept": kept,
        "fit_pictures_ms": round(fit_s * 1000, 2),
        "one_bytesize_ms": round(size_s * 1000, 2),
        "ratio": round(fit_s / size_s, 2),
    }
    print(f"\nfit_pictures, median of {repeats}\n")
    print(
        "| message | fit_pictures (16 MiB limit) | one ByteSize() of the whole message | ratio "
        "| pictures kept |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {items} items x {picture_bytes / 10**6:.1f} MB picture, {size / 10**6:.0f} MB "
        f"| {report['fit_pictures_ms']:.1f} ms | {report['one_bytesize_ms']:.1f} ms | {report['ratio']:.2f} "
        f"| {kept} of {items} |"
    )
    return report


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("section", choices=["decode", "flood", "fit", "all"])
    parser.add_argument("--repeats", type=int, default=5, help="timings per input (decode, fit)")
    parser.add_argument(
        "--connections", type=int, default=30, help="connections of the flood beyond the limit"
    )
    parser.add_argument("--under-connections", type=int, default=6, help="connections of the flood under it")
    parser.add_argument("--streams", type=int, default=10, help="streams per connection")
    parser.add_argument("--limit-s", type=float, default=60.0, help="the longest one flood runs")
    parser.add_argument(
        "--calls", type=int, default=3, help="normal Process calls timed before, during, after"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "machine": host_description(),
        "command": " ".join(["python -m bench.hostile", *sys.argv[1:]]),
    }
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "decode": lambda: run_decode(args.repeats),
        "flood": lambda: run_flood(
            args.connections, args.streams, args.under_connections, args.limit_s, args.calls
        ),
        "fit": lambda: run_fit(args.repeats),
    }
    for name, run in sections.items():
        if args.section in (name, "all"):
            report[name] = run()
    write_json(args.json, report)


if __name__ == "__main__":
    main()
