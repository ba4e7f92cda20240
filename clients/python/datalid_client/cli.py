"""The ``datalid`` command: read expiry dates from image files through a Datalid server.

    datalid process IMAGE... [--json] [--target HOST:PORT] [--timeout S]
                             [--reference-date YYYY-MM-DD] [--date-order DMY|MDY|YMD] [--api-key KEY]
    datalid info [--json]
    datalid models [--json]

Exit status: 0 when every call succeeded, 1 when any failed (each error on stderr), 2 on usage errors.
It only uses the public ``datalid_client.Client``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, TextIO

from datalid_client import (
    ApiKeyAuth,
    Auth,
    Client,
    DatalidError,
    InvalidInput,
    ModelInfo,
    ProcessOptions,
    ProcessResult,
    ServerInfo,
    TokenAuth,
)

__all__ = ["main"]

_PROG = "datalid"


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

    parser = argparse.ArgumentParser(prog=_PROG, description="Read expiry dates through a Datalid server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    process = commands.add_parser("process", parents=[common], help="read the dates on image files")
    process.add_argument("images", nargs="+", metavar="IMAGE", help="image file (JPEG, PNG, WebP, BMP)")
    process.add_argument(
        "--reference-date", type=_date_arg, help="judge expiry against this day, YYYY-MM-DD (default: today)"
    )
    process.add_argument("--date-order", choices=["DMY", "MDY", "YMD"], help="how to read 03/04/26")
    commands.add_parser("info", parents=[common], help="show what the server reports about itself")
    commands.add_parser("models", parents=[common], help="list the server's models")
    return parser


def _auth(args: argparse.Namespace) -> Auth | None:
    if args.token:
        return TokenAuth(args.token)
    if args.api_key:
        return ApiKeyAuth(args.api_key)
    return None


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


def _run_process(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    options = None
    if args.reference_date is not None or args.date_order is not None:
        options = ProcessOptions(reference_date=args.reference_date, date_order=args.date_order)
    failed = 0
    for image in args.images:
        try:
            result = client.process(image, options, timeout_s=args.timeout)
        except (DatalidError, OSError) as exc:
            failed += 1
            print(f"{_PROG}: {image}: {_error_text(exc)}", file=err)
            continue
        if args.json:
            print(json.dumps(_result_record(image, result)), file=out)
        else:
            print(_result_line(image, result), file=out)
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
    except ValueError as exc:
        print(f"{_PROG}: {exc}", file=err)
        return 2
    with Client(args.target, auth=auth, timeout_s=args.timeout) as client:
        if args.command == "process":
            return _run_process(client, args, out, err)
        try:
            if args.command == "info":
                return _run_info(client, args, out)
            return _run_models(client, args, out)
        except DatalidError as exc:
            print(f"{_PROG}: {args.command}: {_error_text(exc)}", file=err)
            return 1


if __name__ == "__main__":
    sys.exit(main())
