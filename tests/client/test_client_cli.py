"""The `datalid` CLI: in-process through main([...]) and once as the installed console script."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from datalid.v1 import types_pb2
from datalid_client.cli import _build_parser, _credentials, main
from tests.client.fakes import JPEG, FakeServer, bad_request, canned_response


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "label.jpg"
    path.write_bytes(JPEG)
    return path


def test_process_prints_one_line_per_image(fake_server: FakeServer, image: Path) -> None:
    code, out, err = run_cli("process", str(image), str(image), "--target", fake_server.target)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0] == (
        f"{image}: 2026-12-31, 36 days until expiry [found] total 357.2 ms (decode 1.5 ms, ocr 340.5 ms)"
    )


def test_process_text_for_expired_and_missing_dates(fake_server: FakeServer, image: Path) -> None:
    expired = canned_response()
    expired.best_date.is_expired = True
    expired.best_date.days_until_expiry = -3
    fake_server.behaviour.response = expired
    _, out, _ = run_cli("process", str(image), "--target", fake_server.target)
    assert "2026-12-31, expired 3 days ago [found]" in out

    fake_server.behaviour.response = types_pb2.ProcessResponse(status=types_pb2.PROCESS_STATUS_PARTIAL)
    _, out, _ = run_cli("process", str(image), "--target", fake_server.target)
    assert out.startswith(f"{image}: no date [partial] total 0.0 ms")


def test_process_json_lines(fake_server: FakeServer, image: Path) -> None:
    code, out, _ = run_cli("process", str(image), str(image), "--json", "--target", fake_server.target)
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 2
    assert records[0] == {
        "image": str(image),
        "status": "found",
        "best_date": "2026-12-31",
        "kind": "expiry",
        "precision": "day",
        "is_expired": False,
        "days_until_expiry": 36,
        "confidence": 0.875,
        "text": "EXP 31/12/2026",
        "timings_ms": {"total": 357.2, "decode": 1.5, "ocr": 340.5},
        "request_id": "req-1",
    }

    fake_server.behaviour.response = types_pb2.ProcessResponse(status=types_pb2.PROCESS_STATUS_NOT_FOUND)
    _, out, _ = run_cli("process", str(image), "--json", "--target", fake_server.target)
    record = json.loads(out)
    assert (record["status"], record["best_date"], record["days_until_expiry"]) == ("not_found", None, None)


def test_failed_images_go_to_stderr_and_set_the_exit_code(
    fake_server: FakeServer, image: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jpg"
    fake_server.behaviour.fail_next(
        grpc.StatusCode.INVALID_ARGUMENT, "not an image", bad_request(("image", "truncated JPEG"))
    )
    code, out, err = run_cli(
        "process", str(image), str(missing), str(image), "--json", "--target", fake_server.target
    )
    assert code == 1
    assert len(out.splitlines()) == 1, "the third image still succeeds"
    errors = err.splitlines()
    assert errors[0] == (
        f"datalid: {image}: InvalidInput: INVALID_ARGUMENT: not an image (image: truncated JPEG)"
    )
    assert errors[1].startswith(f"datalid: {missing}: FileNotFoundError")


def test_options_and_credentials_reach_the_server(fake_server: FakeServer, image: Path) -> None:
    code, _, _ = run_cli(
        "process",
        str(image),
        "--reference-date",
        "2026-06-30",
        "--date-order",
        "MDY",
        "--timeout",
        "7",
        environ={"DATALID_TARGET": fake_server.target, "DATALID_API_KEY": "env-key"},
    )
    assert code == 0
    (call,) = fake_server.behaviour.calls
    assert call.request.options.reference_date == "2026-06-30"
    assert call.request.options.date_order == types_pb2.DATE_ORDER_MDY
    assert not call.request.options.HasField("detection_confidence")
    assert call.metadata["x-api-key"] == "env-key"
    assert call.time_remaining_s is not None and call.time_remaining_s <= 7.0 + 1.0

    run_cli("process", str(image), "--target", fake_server.target, "--api-key", "flag-key")
    assert fake_server.behaviour.calls[1].metadata["x-api-key"] == "flag-key"
    assert not fake_server.behaviour.calls[1].request.HasField("options")


def test_info_and_models(fake_server: FakeServer) -> None:
    code, out, _ = run_cli("info", "--target", fake_server.target)
    assert code == 0
    assert "version: 9.9.9" in out.splitlines()
    assert "available_providers: CUDAExecutionProvider, CPUExecutionProvider" in out

    code, out, _ = run_cli("info", "--json", "--target", fake_server.target)
    assert json.loads(out)["max_image_pixels"] == 40_000_000

    code, out, _ = run_cli("models", "--target", fake_server.target)
    assert (code, out) == (0, "detector\tyolo_detector\tready\tbatch 8\tCPUExecutionProvider\n")

    code, out, _ = run_cli("models", "--json", "--target", fake_server.target)
    assert json.loads(out)["state"] == "ready"


def test_info_error_exits_1(fake_server: FakeServer) -> None:
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAUTHENTICATED, "missing token")
    code, out, err = run_cli("info", "--target", fake_server.target)
    assert (code, out) == (1, "")
    assert err == "datalid: info: Unauthenticated: UNAUTHENTICATED: missing token\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["process"],
        ["process", "x.jpg", "--reference-date", "31/12/2026"],
        ["process", "x.jpg", "--date-order", "DDMM"],
        ["process", "x.jpg", "--timeout", "0"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv, environ={})
    assert info.value.code == 2
    assert "usage: datalid" in capsys.readouterr().err


def test_console_script_as_a_subprocess(fake_server: FakeServer, image: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "datalid"
    assert script.exists(), (
        f"{script} is missing: install the client (`make setup`, or pip install -e clients/python)"
    )
    env = {**os.environ, "DATALID_TARGET": fake_server.target}
    ok = subprocess.run(
        [str(script), "process", str(image), "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["best_date"] == "2026-12-31"

    failed = subprocess.run(
        [str(script), "process", str(tmp_path / "nope.jpg")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert f"datalid: {tmp_path / 'nope.jpg'}: FileNotFoundError" in failed.stderr


def test_violation_already_in_the_message_is_not_repeated(fake_server: FakeServer, image: Path) -> None:
    fake_server.behaviour.fail_next(
        grpc.StatusCode.INVALID_ARGUMENT, "image: empty file", bad_request(("image", "empty file"))
    )
    code, _, err = run_cli("process", str(image), "--target", fake_server.target)
    assert code == 1
    assert err == f"datalid: {image}: InvalidInput: INVALID_ARGUMENT: image: empty file\n"


def test_process_annotate_saves_the_annotated_pictures(fake_server: FakeServer, tmp_path: Path) -> None:
    picture = b"\xff\xd8\xff annotated"
    fake_server.behaviour.response = canned_response(visualization_jpeg=picture)
    first, second = tmp_path / "a" / "label.jpg", tmp_path / "b" / "label.jpg"
    for path in (first, second):
        path.parent.mkdir()
        path.write_bytes(JPEG)
    out_dir = tmp_path / "annotated"
    code, _, err = run_cli(
        "process", str(first), str(second), "--annotate", str(out_dir), "--target", fake_server.target
    )
    assert (code, err) == (0, "")
    # Two photos of one name from two folders: neither overwrites the other.
    assert sorted(p.name for p in out_dir.iterdir()) == ["label-2.annotated.jpg", "label.annotated.jpg"]
    assert (out_dir / "label.annotated.jpg").read_bytes() == picture
    assert fake_server.behaviour.calls[0].request.options.return_visualization


def test_annotate_says_when_no_picture_came_back(
    fake_server: FakeServer, image: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        "process", str(image), "--annotate", str(tmp_path / "out"), "--target", fake_server.target
    )
    assert code == 0 and "no annotated picture came back" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_version_and_examples_in_every_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("datalid 0.1.0 (API datalid.v1)")
    for argv in (
        ["--help"],
        ["process", "--help"],
        ["batch", "--help"],
        ["stream", "--help"],
        ["info", "--help"],
        ["models", "--help"],
        ["job", "--help"],
        *(["job", name, "--help"] for name in ("submit", "get", "watch", "cancel", "delete", "list")),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "example" in text and ":\n  datalid " in text, argv


def test_tls_flags_make_a_secure_channel(tmp_path: Path) -> None:
    parser = _build_parser({})
    assert _credentials(parser.parse_args(["info"])) is None
    assert _credentials(parser.parse_args(["info", "--tls"])) is not None
    assert _credentials(_build_parser({"DATALID_TLS": "1"}).parse_args(["info"])) is not None
    with pytest.raises(ValueError, match="go together"):
        _credentials(parser.parse_args(["info", "--cert-file", "c.pem"]))
    code, _, err = run_cli("info", "--ca-file", str(tmp_path / "missing.pem"))
    assert code == 2 and "missing.pem" in err


def test_several_images_on_a_terminal_get_a_progress_bar(fake_server: FakeServer, image: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Terminal()
    assert (
        main(
            ["process", str(image), str(image), "--target", fake_server.target],
            environ={},
            stdout=out,
            stderr=err,
        )
        == 0
    )
    assert "2/2" in err.getvalue() and "image/s" in err.getvalue()
    assert len(out.getvalue().splitlines()) == 2
