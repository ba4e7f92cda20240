"""The ``datalid`` command: read expiry dates from image files through a Datalid server.

    datalid process IMAGE... [--json] [--target HOST:PORT] [--timeout S] [--annotate DIR]
                             [--reference-date YYYY-MM-DD] [--date-order DMY|MDY|YMD] [--api-key KEY]
    datalid info [--json]
    datalid models [--json]
    datalid stream (--camera N | --video FILE | --frames DIR) [--fps F] [--policy latest|all]
                   [--max-frames N] [--json]
    datalid batch DIR [--json | --csv FILE] [--chunk-size N] [--annotate DIR]
    datalid job submit (IMAGE | --url URL) | job get ID | job list [--state S] | job watch ID
    datalid job cancel ID | job delete ID

Exit status: 0 when every call succeeded, 1 when any failed (each error on stderr), 2 on usage errors.
``process`` (of several images) and ``batch`` draw a progress bar with rate and ETA on stderr when
it is a terminal (tqdm), and nothing when it is piped.
``job watch`` exits 1 unless the job succeeded. ``stream`` needs OpenCV (``cv2``) to capture and
encode frames. It only uses the public ``datalid_client.Client``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import grpc
from tqdm import tqdm

from datalid_client import (
    ApiKeyAuth,
    Auth,
    BatchItem,
    Client,
    DatalidError,
    DropPolicy,
    Frame,
    FrameResult,
    InvalidInput,
    Job,
    JobState,
    ModelInfo,
    ProcessOptions,
    ProcessResult,
    ServerInfo,
    TokenAuth,
)

__all__ = ["main"]

_PROG = "datalid"
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


class _CliError(Exception):
    """A failure the CLI reports as one line on stderr, exit status 1."""


def _date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


# Examples shown at the end of each command's --help.
_EXAMPLES = {
    "datalid": """examples:
  datalid process label.jpg
  datalid process --reference-date 2026-11-01 --annotate out/ shelf/*.jpg
  datalid batch photos/ --csv report.csv
  datalid stream --camera 0 --policy latest
  datalid job submit --url https://example.com/label.jpg
  DATALID_TARGET=datalid.example.com:443 DATALID_TLS=1 DATALID_API_KEY=... datalid info
  datalid info --target 10.0.0.5:50051 --ca-file ca.pem --cert-file me.pem --key-file me.key""",
    "process": """examples:
  datalid process label.jpg
  datalid process a.jpg b.png --json
  datalid process --reference-date 2026-11-01 --date-order MDY label.jpg
  datalid process --annotate annotated/ label.jpg   # writes annotated/label.annotated.jpg""",
    "info": """examples:
  datalid info
  datalid info --json --target datalid.example.com:443 --tls""",
    "models": """examples:
  datalid models
  datalid models --json""",
    "stream": """examples:
  datalid stream --camera 0
  datalid stream --video belt.mp4 --fps 5 --policy latest
  datalid stream --frames captures/ --max-frames 100 --json""",
    "batch": """examples:
  datalid batch photos/
  datalid batch photos/ --json > results.ndjson
  datalid batch photos/ --csv report.csv --annotate annotated/ --chunk-size 32""",
    "job": """examples:
  datalid job submit label.jpg
  datalid job submit --url https://example.com/label.jpg
  datalid job watch 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b
  datalid job list --state running""",
}


_JOB_EXAMPLES = {
    "submit": "datalid job submit label.jpg --reference-date 2026-11-01",
    "get": "datalid job get 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b --json",
    "watch": "datalid job watch 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b",
    "cancel": "datalid job cancel 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b",
    "delete": "datalid job delete 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b",
    "list": "datalid job list --state running --page-size 50",
}


def _client_version() -> str:
    try:
        return metadata.version("datalid-client")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        default=environ.get("DATALID_TARGET", "localhost:50051"),
        help="server host:port (default: $DATALID_TARGET or localhost:50051)",
    )
    common.add_argument(
        "--timeout", type=_positive_float, default=30.0, help="seconds per call (default: 30)"
    )
    common.add_argument(
        "--api-key", default=environ.get("DATALID_API_KEY"), help="API key (default: $DATALID_API_KEY)"
    )
    common.add_argument(
        "--token", default=environ.get("DATALID_TOKEN"), help="bearer token (default: $DATALID_TOKEN)"
    )
    common.add_argument("--json", action="store_true", help="print JSON (one object per line)")
    common.add_argument(
        "--tls",
        action="store_true",
        default=environ.get("DATALID_TLS", "") in ("1", "true"),
        help="connect over TLS, trusting the system's CAs (default: $DATALID_TLS=1, else plaintext)",
    )
    common.add_argument(
        "--ca-file", default=environ.get("DATALID_CA_FILE"), help="PEM CA to trust (implies --tls)"
    )
    common.add_argument(
        "--cert-file", default=environ.get("DATALID_CERT_FILE"), help="PEM client certificate (mTLS)"
    )
    common.add_argument("--key-file", default=environ.get("DATALID_KEY_FILE"), help="PEM key of --cert-file")

    shown = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Read expiry dates through a Datalid server.",
        epilog=_EXAMPLES["datalid"],
        formatter_class=shown,
    )
    parser.add_argument(
        "--version", action="version", version=f"{_PROG} {_client_version()} (API datalid.v1)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, parents: list[argparse.ArgumentParser], help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=parents, help=help, epilog=_EXAMPLES[name], formatter_class=shown
        )

    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument(
        "--reference-date", type=_date_arg, help="judge expiry against this day, YYYY-MM-DD (default: today)"
    )
    reading.add_argument("--date-order", choices=["DMY", "MDY", "YMD"], help="how to read 03/04/26")
    annotating = argparse.ArgumentParser(add_help=False)
    annotating.add_argument(
        "--annotate",
        metavar="DIR",
        help="save each image with its boxes, text and date drawn as DIR/NAME.annotated.jpg",
    )
    process = command("process", [common, reading, annotating], "read the dates on image files")
    process.add_argument("images", nargs="+", metavar="IMAGE", help="image file (JPEG, PNG, WebP, BMP)")
    command("info", [common], "show what the server reports about itself")
    command("models", [common], "list the server's models")

    stream = command("stream", [common, reading], "stream camera, video or folder frames (needs OpenCV)")
    source = stream.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=_non_negative_int, metavar="N", help="camera index (0: the default)")
    source.add_argument("--video", metavar="FILE", help="video file")
    source.add_argument("--frames", metavar="DIR", help="folder of images, sent in file-name order")
    stream.add_argument("--fps", type=_positive_number, help="send at most F frames per second")
    stream.add_argument(
        "--policy", choices=["all", "latest"], default="all", help="read every frame or only the newest"
    )
    stream.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after N frames")
    stream.set_defaults(parser=stream)

    batch = command("batch", [common, reading, annotating], "read every image of a folder")
    batch.add_argument("directory", metavar="DIR", help="folder of images (JPEG, PNG, WebP, BMP)")
    batch.add_argument("--csv", metavar="FILE", help="also write one CSV row per image to FILE")
    batch.add_argument(
        "--chunk-size", type=_positive_int, default=16, help="images per ProcessBatch call (default: 16)"
    )
    batch.set_defaults(parser=batch)

    job = command("job", [], "persistent jobs: submit, get, list, watch, cancel, delete")
    job_commands = job.add_subparsers(dest="job_command", required=True, metavar="JOB_COMMAND")

    def job_command(name: str, parents: list[argparse.ArgumentParser], help: str) -> argparse.ArgumentParser:
        example = _JOB_EXAMPLES[name]
        return job_commands.add_parser(
            name, parents=parents, help=help, epilog=f"example:\n  {example}", formatter_class=shown
        )

    submit = job_command("submit", [common, reading], "submit an image or a URL")
    submit.add_argument("image", nargs="?", metavar="IMAGE", help="image file")
    submit.add_argument("--url", help="https URL of the image, instead of IMAGE")
    submit.set_defaults(parser=submit)
    for name, text in (
        ("get", "show a job"),
        ("watch", "follow a job until it ends"),
        ("cancel", "cancel a job"),
        ("delete", "delete a job"),
    ):
        job_command(name, [common], text).add_argument(
            "job_id", metavar="ID", help="the job's id: 32 hex digits, as submit printed it"
        )
    listing = job_command("list", [common], "list jobs, every page")
    listing.add_argument("--state", choices=[s.value for s in JobState if s is not JobState.UNSPECIFIED])
    listing.add_argument("--page-size", type=_positive_int, help="jobs per ListJobs call")
    return parser


def _auth(args: argparse.Namespace) -> Auth | None:
    if args.token:
        return TokenAuth(args.token)
    if args.api_key:
        return ApiKeyAuth(args.api_key)
    return None


def _credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS credentials from --tls, --ca-file, --cert-file and --key-file; None for plaintext.

    Raises:
        ValueError: a certificate without its key, or the other way round.
        OSError: a file cannot be read.
    """
    if bool(args.cert_file) != bool(args.key_file):
        raise ValueError("--cert-file and --key-file go together")
    if not (args.tls or args.ca_file or args.cert_file):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=Path(args.ca_file).read_bytes() if args.ca_file else None,
        private_key=Path(args.key_file).read_bytes() if args.key_file else None,
        certificate_chain=Path(args.cert_file).read_bytes() if args.cert_file else None,
    )


def _result_record(image: str, result: ProcessResult) -> dict[str, Any]:
    best = result.best_date
    return {
        "image": image,
        "status": result.status.value,
        "best_date": best.date.isoformat() if best else None,
        "kind": best.kind.value if best else None,
        "precision": best.precision.value if best else None,
        "is_expired": best.is_expired if best else None,
        "days_until_expiry": best.days_until_expiry if best else None,
        "confidence": round(best.confidence, 4) if best else None,
        "text": best.text if best else None,
        "timings_ms": {
            "total": round(result.timings.total_ms, 1),
            "decode": round(result.timings.decode_ms, 1),
            "ocr": round(result.timings.ocr_ms, 1),
        },
        "request_id": result.request_id,
    }


def _result_line(image: str, result: ProcessResult) -> str:
    best = result.best_date
    if best is None:
        found = "no date"
    elif best.is_expired:
        found = f"{best.date.isoformat()}, expired {-best.days_until_expiry} days ago"
    else:
        found = f"{best.date.isoformat()}, {best.days_until_expiry} days until expiry"
    t = result.timings
    return (
        f"{image}: {found} [{result.status.value}] "
        f"total {t.total_ms:.1f} ms (decode {t.decode_ms:.1f} ms, ocr {t.ocr_ms:.1f} ms)"
    )


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, InvalidInput):
        # Servers often repeat the violation in the message; print what the message does not say.
        extra = [
            f"{v.field}: {v.description}" for v in exc.field_violations if v.description not in exc.details
        ]
        if extra:
            text += " (" + "; ".join(extra) + ")"
    return text


def _options(args: argparse.Namespace) -> ProcessOptions | None:
    annotate = getattr(args, "annotate", None) is not None
    if args.reference_date is None and args.date_order is None and not annotate:
        return None
    return ProcessOptions(
        reference_date=args.reference_date, date_order=args.date_order, return_visualization=annotate
    )


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _bar(err: TextIO, total: int) -> tqdm:
    """A progress bar with rate and ETA on ``err``, drawn only when it is a terminal (piped or
    redirected, stderr stays clean for the errors) and there is more than one image."""
    quiet = total < 2 or not _is_terminal(err)
    return tqdm(total=total, file=err, unit="image", disable=quiet, dynamic_ncols=True)


def _emit(line: str, out: TextIO, bar: tqdm) -> None:
    """Prints a result line above the progress bar (which is cleared and redrawn around it)."""
    if bar.disable:
        print(line, file=out)
    else:
        bar.write(line, file=out)


class _Annotations:
    """``--annotate DIR``: each result's annotated picture saved as ``DIR/NAME.annotated.jpg``;
    a second image of the same name in one run gets ``NAME-2.annotated.jpg``."""

    def __init__(self, folder: str | None, err: TextIO) -> None:
        self._folder = Path(folder) if folder is not None else None
        self._err = err
        self._used: set[str] = set()
        if self._folder is not None:
            self._folder.mkdir(parents=True, exist_ok=True)

    def save(self, image: str, result: ProcessResult | None) -> None:
        if self._folder is None or result is None:
            return
        if not result.visualization_jpeg:
            print(
                f"{_PROG}: {image}: no annotated picture came back "
                "(left out to keep a batch response within the message limit; `datalid process` it)",
                file=self._err,
            )
            return
        stem, name, n = Path(image).stem, Path(image).stem, 1
        while name in self._used:
            n += 1
            name = f"{stem}-{n}"
        self._used.add(name)
        (self._folder / f"{name}.annotated.jpg").write_bytes(result.visualization_jpeg)


def _run_process(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    options = _options(args)
    annotations = _Annotations(args.annotate, err)
    failed = 0
    with _bar(err, len(args.images)) as bar:
        for image in args.images:
            try:
                result = client.process(image, options, timeout_s=args.timeout)
            except (DatalidError, OSError) as exc:
                failed += 1
                _emit(f"{_PROG}: {image}: {_error_text(exc)}", err, bar)
                bar.update()
                continue
            annotations.save(image, result)
            record = json.dumps(_result_record(image, result)) if args.json else _result_line(image, result)
            _emit(record, out, bar)
            bar.update()
    return 1 if failed else 0


def _info_record(info: ServerInfo) -> dict[str, Any]:
    record = asdict(info)
    record["available_providers"] = list(info.available_providers)
    record["started_at"] = info.started_at.isoformat() if info.started_at else None
    return record


def _model_record(model: ModelInfo) -> dict[str, Any]:
    return {
        "name": model.name,
        "kind": model.kind,
        "state": model.state.value,
        "providers": list(model.providers),
        "max_batch_size": model.max_batch_size,
        "path": model.path,
        "sha256": model.sha256,
    }


def _run_info(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    record = _info_record(client.server_info(timeout_s=args.timeout))
    if args.json:
        print(json.dumps(record), file=out)
    else:
        for key, value in record.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            print(f"{key}: {shown}", file=out)
    return 0


def _run_models(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    for model in client.list_models(timeout_s=args.timeout):
        if args.json:
            print(json.dumps(_model_record(model)), file=out)
        else:
            print(
                f"{model.name}\t{model.kind}\t{model.state.value}\t"
                f"batch {model.max_batch_size}\t{','.join(model.providers)}",
                file=out,
            )
    return 0


def _image_files(directory: str) -> list[Path]:
    """The images of a folder, sorted by name; raises _CliError for a missing or image-less folder."""
    folder = Path(directory)
    if not folder.is_dir():
        raise _CliError(f"{directory}: not a directory")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise _CliError(f"{directory}: no images ({', '.join(sorted(_IMAGE_SUFFIXES))})")
    return files


def _cv2() -> Any:
    try:
        import cv2  # optional: only `datalid stream` needs OpenCV
    except ImportError:
        raise _CliError("stream needs OpenCV: pip install opencv-python-headless") from None
    return cv2


def _jpeg(cv2: Any, image: Any, source: str) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image)
    if not ok:
        raise OSError(f"{source}: cannot encode the frame as JPEG")
    return bytes(buffer)


def _captured_frames(args: argparse.Namespace) -> Iterator[tuple[str, bytes]]:
    """(source, JPEG bytes) of each frame of the camera, the video or the folder."""
    cv2 = _cv2()
    if args.frames is not None:
        for path in _image_files(args.frames):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"{path}: cannot decode the image")
            yield path.name, _jpeg(cv2, image, str(path))
        return
    device = args.camera if args.camera is not None else args.video
    capture = cv2.VideoCapture(device)
    try:
        if not capture.isOpened():
            kind = "camera" if args.camera is not None else "video"
            raise OSError(f"cannot open {kind} {device}")
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield (
                f"{'camera' if args.camera is not None else Path(args.video).name}#{index}",
                _jpeg(cv2, image, str(device)),
            )
            index += 1
    finally:
        capture.release()


def _frames(args: argparse.Namespace, sources: dict[int, str]) -> Iterator[Frame]:
    """The Frames to send, paced to --fps and cut at --max-frames; records each frame's source."""
    policy = DropPolicy.LATEST if args.policy == "latest" else DropPolicy.PROCESS_ALL
    options = _options(args)
    interval = 1.0 / args.fps if args.fps else 0.0
    next_at = time.monotonic()
    for frame_id, (source, jpeg) in enumerate(_captured_frames(args)):
        if interval:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at = max(next_at, time.monotonic()) + interval
        sources[frame_id] = source
        yield Frame(
            frame_id=frame_id,
            image=jpeg,
            captured_at=dt.datetime.now(dt.UTC),
            options=options,
            drop_policy=policy,
        )
        if args.max_frames is not None and frame_id + 1 >= args.max_frames:
            return


def _frame_record(result: FrameResult, source: str | None) -> dict[str, Any]:
    found = result.result.best_date if result.result else None
    best = result.stream_best_date
    return {
        "frame_id": result.frame_id,
        "source": source,
        "skipped": result.skipped,
        "status": result.result.status.value if result.result else None,
        "date": found.date.isoformat() if found else None,
        "stream_best_date": best.date.isoformat() if best else None,
        "agreeing_frames": result.agreeing_frames,
        "error": _error_text(result.error) if result.error else None,
    }


def _frame_line(record: dict[str, Any]) -> str:
    source = f" ({record['source']})" if record["source"] else ""
    if record["skipped"]:
        found = "skipped"
    elif record["error"]:
        found = "error"
    else:
        found = f"{record['date'] or 'no date'} [{record['status']}]"
    best = record["stream_best_date"] or "none"
    return (
        f"frame {record['frame_id']}{source}: {found} | stream {best} ({record['agreeing_frames']} agreeing)"
    )


def _run_stream(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _cv2()  # fail now, not on the gRPC thread that reads the frames
    if args.frames is not None:
        _image_files(args.frames)
    sources: dict[int, str] = {}
    failed = 0
    try:
        for result in client.stream_frames(_frames(args, sources)):
            record = _frame_record(result, sources.get(result.frame_id))
            if result.error is not None:
                failed += 1
                print(f"{_PROG}: frame {result.frame_id}: {record['error']}", file=err)
            print(json.dumps(record) if args.json else _frame_line(record), file=out, flush=True)
    except KeyboardInterrupt:
        print(f"{_PROG}: stream: interrupted", file=err)
    return 1 if failed else 0


_BATCH_COLUMNS = (
    "image",
    "status",
    "best_date",
    "kind",
    "is_expired",
    "days_until_expiry",
    "confidence",
    "error",
)


def _batch_row(image: str, item: BatchItem | None, error: str | None) -> dict[str, Any]:
    if item is not None and item.result is not None:
        record = _result_record(image, item.result)
        return {key: record.get(key) for key in _BATCH_COLUMNS} | {"error": None}
    if item is not None and item.error is not None:
        error = _error_text(item.error)
    row: dict[str, Any] = dict.fromkeys(_BATCH_COLUMNS)
    return row | {"image": image, "status": "failed", "error": error}


def _batch_table(rows: list[dict[str, Any]]) -> list[str]:
    headers = ("IMAGE", "STATUS", "DATE", "DAYS", "ERROR")
    cells = [
        (
            str(r["image"]),
            str(r["status"]),
            r["best_date"] or "-",
            "-" if r["days_until_expiry"] is None else str(r["days_until_expiry"]),
            r["error"] or "",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers[:-1])]
    lines = []
    for row in (headers, *cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return [line.rstrip() for line in lines]


def _batch_summary(rows: list[dict[str, Any]]) -> str:
    counts = {
        status: sum(r["status"] == status for r in rows) for status in ("found", "partial", "not_found")
    }
    failed = sum(r["error"] is not None for r in rows)
    return (
        f"{len(rows)} images: {counts['found']} found, {counts['partial']} partial, "
        f"{counts['not_found']} not found, {failed} failed"
    )


# What a ProcessRequest adds to its image on the wire (the options, field tags): generous, so a file
# this far under the limit is never refused as a whole call.
_REQUEST_OVERHEAD_BYTES = 1024


@dataclass(frozen=True)
class _BatchLimits:
    """What one ProcessBatch call may carry, from GetServerInfo; 0 where the server did not say."""

    message_bytes: int = 0
    items: int = 0
    total_bytes: int = 0


def _batch_limits(client: Client, args: argparse.Namespace) -> _BatchLimits:
    try:
        info = client.server_info(timeout_s=args.timeout)
    except DatalidError:
        return _BatchLimits()
    return _BatchLimits(info.max_message_bytes, info.batch_max_items, info.batch_max_bytes)


def _too_big(size: int, limits: _BatchLimits) -> str | None:
    """Why a file of ``size`` bytes cannot go in any call (one such message would fail the whole
    call), or None."""
    if limits.message_bytes and size + _REQUEST_OVERHEAD_BYTES > limits.message_bytes:
        return (
            f"{size} bytes: with its request around it, more than the server's message limit of "
            f"{limits.message_bytes} bytes"
        )
    return None


def _chunks(
    files: list[Path], chunk_size: int, limits: _BatchLimits, rows: dict[Path, dict[str, Any]]
) -> Iterator[list[Path]]:
    """The files in calls of at most ``chunk_size`` (and the server's batch_max_items) images and
    batch_max_bytes bytes, in order; a file no call can carry gets its failed row in ``rows``."""
    most = min(chunk_size, limits.items) if limits.items else chunk_size
    chunk: list[Path] = []
    size = 0
    for path in files:
        try:
            bytes_ = path.stat().st_size
        except OSError:
            bytes_ = 0  # read with its chunk, and that error reported then
        reason = _too_big(bytes_, limits)
        if reason is not None:
            rows[path] = _batch_row(str(path), None, reason)
            continue
        if chunk and (len(chunk) >= most or (limits.total_bytes and size + bytes_ > limits.total_bytes)):
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += bytes_
    if chunk:
        yield chunk


def _batch_chunk(
    client: Client,
    args: argparse.Namespace,
    chunk: list[Path],
    options: ProcessOptions | None,
    annotations: _Annotations,
) -> dict[Path, dict[str, Any]]:
    """The rows of one ProcessBatch call's files; a file that cannot be read fails alone."""
    sendable: list[tuple[Path, bytes]] = []
    rows: dict[Path, dict[str, Any]] = {}
    for path in chunk:
        try:
            sendable.append((path, path.read_bytes()))
        except OSError as exc:
            rows[path] = _batch_row(str(path), None, f"{type(exc).__name__}: {exc}")
    if sendable:
        try:
            items = client.process_batch([data for _, data in sendable], options, timeout_s=args.timeout)
        except DatalidError as exc:
            for path, _ in sendable:
                rows[path] = _batch_row(str(path), None, _error_text(exc))
        else:
            by_index = {item.index: item for item in items}
            for index, (path, _) in enumerate(sendable):
                item = by_index.get(index)
                rows[path] = _batch_row(str(path), item, None if item else "no answer for this image")
                annotations.save(str(path), item.result if item else None)
    return rows


def _run_batch(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.json and args.csv:
        args.parser.error("--json and --csv cannot be combined")
    files = _image_files(args.directory)
    options = _options(args)
    annotations = _Annotations(args.annotate, err)
    limits = _batch_limits(client, args)
    by_path: dict[Path, dict[str, Any]] = {}
    with _bar(err, len(files)) as bar:
        for chunk in _chunks(files, args.chunk_size, limits, by_path):
            by_path.update(_batch_chunk(client, args, chunk, options, annotations))
            bar.n = len(by_path)
            bar.set_postfix(failed=sum(r["error"] is not None for r in by_path.values()), refresh=False)
            bar.refresh()
    rows = [by_path[path] for path in files]
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=_BATCH_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    if args.json:
        for row in rows:
            print(json.dumps(row), file=out)
        print(_batch_summary(rows), file=err)
    else:
        for line in _batch_table(rows):
            print(line, file=out)
        print(_batch_summary(rows), file=out)
    return 1 if any(r["error"] is not None for r in rows) else 0


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _job_record(job: Job) -> dict[str, Any]:
    best = job.result.best_date if job.result else None
    return {
        "job_id": job.job_id,
        "state": job.state.value,
        "progress": round(job.progress, 4),
        "message": job.message,
        "best_date": best.date.isoformat() if best else None,
        "status": job.result.status.value if job.result else None,
        "error": _error_text(job.error) if job.error else None,
        "owner": job.owner,
        "created_at": _when(job.created_at),
        "started_at": _when(job.started_at),
        "finished_at": _when(job.finished_at),
    }


def _job_line(job: Job) -> str:
    record = _job_record(job)
    parts = [job.job_id, job.state.value, f"{job.progress:.0%}"]
    if record["best_date"] or record["status"]:
        parts.append(f"{record['best_date'] or 'no date'} [{record['status']}]")
    if record["error"]:
        parts.append(record["error"])
    elif job.message:
        parts.append(job.message)
    return "\t".join(parts)


def _print_job(job: Job, args: argparse.Namespace, out: TextIO) -> None:
    print(json.dumps(_job_record(job)) if args.json else _job_line(job), file=out, flush=True)


def _run_job(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    command = args.job_command
    if command == "submit":
        if (args.image is None) == (args.url is None):
            args.parser.error("give exactly one of IMAGE and --url")
        job = client.create_job(args.image, url=args.url, options=_options(args), timeout_s=args.timeout)
        _print_job(job, args, out)
    elif command == "get":
        _print_job(client.get_job(args.job_id, timeout_s=args.timeout), args, out)
    elif command == "list":
        for job in client.iter_jobs(args.state, page_size=args.page_size, timeout_s=args.timeout):
            _print_job(job, args, out)
    elif command == "cancel":
        _print_job(client.cancel_job(args.job_id, timeout_s=args.timeout), args, out)
    elif command == "delete":
        client.delete_job(args.job_id, timeout_s=args.timeout)
        if not args.json:
            print(f"deleted {args.job_id}", file=out)
    else:  # watch
        last: Job | None = None
        for last in client.watch_job(args.job_id):
            _print_job(last, args, out)
        if last is None or last.state is not JobState.SUCCEEDED:
            state = last.state.value if last else "unknown"
            print(f"{_PROG}: job {args.job_id}: ended {state}", file=err)
            return 1
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the ``datalid`` command.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).
        environ: Where ``DATALID_TARGET``, ``DATALID_API_KEY`` and ``DATALID_TOKEN`` are read
            (default: ``os.environ``).
        stdout: Where results go (default: ``sys.stdout``).
        stderr: Where errors go (default: ``sys.stderr``).

    Returns:
        The exit status: 0 on success, 1 when a call failed. Usage errors exit with 2 (SystemExit).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _build_parser(os.environ if environ is None else environ).parse_args(argv)
    try:
        auth = _auth(args)
        credentials = _credentials(args)
    except (ValueError, OSError) as exc:
        print(f"{_PROG}: {exc}", file=err)
        return 2
    label = f"job {args.job_command}" if args.command == "job" else args.command
    with Client(args.target, auth=auth, timeout_s=args.timeout, credentials=credentials) as client:
        if args.command == "process":
            return _run_process(client, args, out, err)
        try:
            if args.command == "info":
                return _run_info(client, args, out)
            if args.command == "models":
                return _run_models(client, args, out)
            if args.command == "stream":
                return _run_stream(client, args, out, err)
            if args.command == "batch":
                return _run_batch(client, args, out, err)
            return _run_job(client, args, out, err)
        except (DatalidError, OSError, _CliError) as exc:
            text = str(exc) if isinstance(exc, _CliError) else _error_text(exc)
            print(f"{_PROG}: {label}: {text}", file=err)
            return 1


if __name__ == "__main__":
    sys.exit(main())
