"""The `datalid stream`, `batch` and `job` subcommands, in-process against the fake server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from datalid.v1 import expiry_date_service_pb2, job_service_pb2
from datalid_client.cli import main
from tests.client.fakes import BAD_IMAGE, FAILING_URL, JPEG, FakeServer, canned_response


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    """Three small PNG frames (and a file that is not an image, which is ignored)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        image = np.full((16, 24, 3), 40 * i, dtype=np.uint8)
        ok, png = cv2.imencode(".png", image)
        assert ok
        (folder / f"frame_{i:03d}.png").write_bytes(png.tobytes())
    (folder / "notes.txt").write_text("not a frame")
    return folder


def frames_sent(server: FakeServer) -> list[expiry_date_service_pb2.Frame]:
    return [c.request for c in server.behaviour.calls if c.method == "Frame"]


def test_stream_frames_dir_prints_one_line_per_frame(fake_server: FakeServer, frames_dir: Path) -> None:
    code, out, err = run_cli("stream", "--frames", str(frames_dir), "--target", fake_server.target)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"frame {i} (frame_{i:03d}.png): 2026-12-31 [found] | stream 2026-12-31 ({i + 1} agreeing)"
        for i in range(3)
    ]
    sent = frames_sent(fake_server)
    assert [f.frame_id for f in sent] == [0, 1, 2]
    assert all(f.image.startswith(b"\xff\xd8\xff") for f in sent), "frames are re-encoded as JPEG"
    decoded = cv2.imdecode(np.frombuffer(sent[0].image, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (16, 24, 3)
    assert all(f.HasField("captured_at") for f in sent)
    assert all(f.drop_policy == expiry_date_service_pb2.DROP_POLICY_PROCESS_ALL for f in sent)


def test_stream_json_policy_fps_and_max_frames(fake_server: FakeServer, frames_dir: Path) -> None:
    code, out, _ = run_cli(
        "stream",
        "--frames",
        str(frames_dir),
        "--policy",
        "latest",
        "--fps",
        "1000",
        "--max-frames",
        "2",
        "--date-order",
        "MDY",
        "--json",
        "--target",
        fake_server.target,
    )
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records[1] == {
        "frame_id": 1,
        "source": "frame_001.png",
        "skipped": False,
        "status": "found",
        "date": "2026-12-31",
        "stream_best_date": "2026-12-31",
        "agreeing_frames": 2,
        "error": None,
    }
    sent = frames_sent(fake_server)
    assert len(sent) == 2
    assert all(f.drop_policy == expiry_date_service_pb2.DROP_POLICY_LATEST for f in sent)
    assert sent[0].options.date_order == 2


def test_stream_in_band_frame_error_sets_exit_1(fake_server: FakeServer, frames_dir: Path) -> None:
    fake_server.behaviour.fail_stream_after(1, grpc.StatusCode.INTERNAL, "decoder crashed")
    code, out, err = run_cli("stream", "--frames", str(frames_dir), "--target", fake_server.target)
    assert code == 1
    assert len(out.splitlines()) == 1
    assert err == "datalid: stream: ServerError: INTERNAL: decoder crashed\n"


def test_stream_source_errors(fake_server: FakeServer, tmp_path: Path) -> None:
    code, _, err = run_cli("stream", "--frames", str(tmp_path), "--target", fake_server.target)
    assert code == 1 and "no images" in err
    code, _, err = run_cli("stream", "--video", str(tmp_path / "none.mp4"), "--target", fake_server.target)
    assert code == 1 and "cannot open video" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    code, _, err = run_cli("stream", "--frames", str(broken), "--target", fake_server.target)
    assert code == 1 and "cannot decode the image" in err


@pytest.fixture
def batch_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "shelf"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(JPEG)
    (folder / "b.png").write_bytes(BAD_IMAGE)
    (folder / "c.JPEG").write_bytes(JPEG)
    (folder / "readme.md").write_text("skip me")
    return folder


def test_batch_prints_a_table_a_summary_and_a_progress_bar(fake_server: FakeServer, batch_dir: Path) -> None:
    code, out, err = run_cli("batch", str(batch_dir), "--chunk-size", "2", "--target", fake_server.target)
    assert code == 1, "one image failed"
    lines = out.splitlines()
    assert lines[0].split() == ["IMAGE", "STATUS", "DATE", "DAYS", "ERROR"]
    assert lines[1].split()[1:] == ["found", "2026-12-31", "36"]
    assert "failed" in lines[2] and "InvalidInput: INVALID_ARGUMENT: image: not an image" in lines[2]
    assert lines[3].endswith("36")
    assert lines[4] == "3 images: 2 found, 0 partial, 0 not found, 1 failed"
    assert err == "", "no progress bar when stderr is not a terminal"
    batches = [c.request for c in fake_server.behaviour.calls if c.method == "ProcessBatch"]
    assert [len(b) for b in batches] == [2, 1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_batch_on_a_terminal_draws_a_bar_with_rate_and_eta(fake_server: FakeServer, batch_dir: Path) -> None:
    out, err = io.StringIO(), _Terminal()
    argv = ["batch", str(batch_dir), "--chunk-size", "2", "--target", fake_server.target]
    assert main(argv, environ={}, stdout=out, stderr=err) == 1
    final = err.getvalue().split("\r")[-1]
    assert "3/3" in final and "100%" in final and "image/s" in final and "failed=1" in final
    assert "3 images: 2 found" in out.getvalue(), "the results still go to stdout"


def test_batch_annotate_saves_each_picture(fake_server: FakeServer, batch_dir: Path, tmp_path: Path) -> None:
    picture = b"\xff\xd8\xff annotated"
    fake_server.behaviour.response = canned_response(visualization_jpeg=picture)
    annotated = tmp_path / "annotated"
    code, _, err = run_cli(
        "batch", str(batch_dir), "--annotate", str(annotated), "--target", fake_server.target
    )
    assert code == 1 and "not an image" not in err  # b.png's error is in the table, not here
    assert sorted(p.name for p in annotated.iterdir()) == ["a.annotated.jpg", "c.annotated.jpg"]
    assert (annotated / "a.annotated.jpg").read_bytes() == picture
    (request,) = [c.request for c in fake_server.behaviour.calls if c.method == "ProcessBatch"]
    assert all(r.options.return_visualization for r in request)


def test_a_file_over_the_message_limit_fails_alone(fake_server: FakeServer, batch_dir: Path) -> None:
    """One such file made the whole ProcessBatch call fail: every image of its chunk was lost."""
    fake_server.behaviour.max_message_bytes = 64 * 1024
    (batch_dir / "b2.jpg").write_bytes(JPEG + b"\0" * 100_000)  # sorted between b.png and c.JPEG
    code, out, _ = run_cli("batch", str(batch_dir), "--json", "--target", fake_server.target)
    rows = {Path(r["image"]).name: r for r in map(json.loads, out.splitlines())}
    assert code == 1
    assert (
        rows["b2.jpg"]["error"]
        == f"{len(JPEG) + 100_000} bytes: with its request around it, more than the server's message limit "
        "of 65536 bytes"
    )
    assert rows["a.jpg"]["best_date"] == rows["c.JPEG"]["best_date"] == "2026-12-31"
    (request,) = [c.request for c in fake_server.behaviour.calls if c.method == "ProcessBatch"]
    assert len(request) == 3, "a.jpg, b.png and c.JPEG went in one call"


def test_batch_json_and_csv(fake_server: FakeServer, batch_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_cli("batch", str(batch_dir), "--json", "--target", fake_server.target)
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["a.jpg", "b.png", "c.JPEG"]
    assert rows[0]["best_date"] == "2026-12-31" and rows[0]["error"] is None
    assert rows[1]["status"] == "failed" and rows[1]["error"].startswith("InvalidInput")
    assert err.splitlines()[-1] == "3 images: 2 found, 0 partial, 0 not found, 1 failed"

    report = tmp_path / "report.csv"
    code, out, _ = run_cli("batch", str(batch_dir), "--csv", str(report), "--target", fake_server.target)
    with report.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [r["status"] for r in table] == ["found", "failed", "found"]
    assert table[0]["days_until_expiry"] == "36"
    assert out.splitlines()[-1].startswith("3 images")


def test_batch_call_failure_marks_every_image(fake_server: FakeServer, batch_dir: Path) -> None:
    # The first call asks for the server's message limit; without it the batch still runs.
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAUTHENTICATED, "missing token")
    fake_server.behaviour.fail_next(grpc.StatusCode.UNAUTHENTICATED, "missing token")
    code, out, _ = run_cli(
        "batch", str(batch_dir), "--chunk-size", "2", "--json", "--target", fake_server.target
    )
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in rows] == ["failed", "failed", "found"]
    assert rows[0]["error"] == "Unauthenticated: UNAUTHENTICATED: missing token"


def test_batch_missing_dir(fake_server: FakeServer, tmp_path: Path) -> None:
    code, out, err = run_cli("batch", str(tmp_path / "nope"), "--target", fake_server.target)
    assert (code, out) == (1, "")
    assert err == f"datalid: batch: {tmp_path / 'nope'}: not a directory\n"


def test_job_submit_get_list_watch_cancel_delete(fake_server: FakeServer, tmp_path: Path) -> None:
    image = tmp_path / "label.jpg"
    image.write_bytes(JPEG)
    target = ("--target", fake_server.target)
    code, out, _ = run_cli("job", "submit", str(image), *target)
    assert (code, out) == (0, f"job-1\tqueued\t0%\t{len(JPEG)} bytes\n")
    code, out, _ = run_cli("job", "submit", "--url", "https://example.com/a.jpg", "--json", *target)
    record = json.loads(out)
    assert (record["job_id"], record["state"], record["created_at"]) == (
        "job-2",
        "queued",
        "2026-09-21T14:13:21+00:00",
    )

    code, out, _ = run_cli("job", "watch", "job-1", *target)
    assert code == 0
    assert out.splitlines() == [
        f"job-1\tqueued\t0%\t{len(JPEG)} bytes",
        f"job-1\trunning\t50%\t{len(JPEG)} bytes",
        f"job-1\tsucceeded\t100%\t2026-12-31 [found]\t{len(JPEG)} bytes",
    ]
    code, out, _ = run_cli("job", "get", "job-1", "--json", *target)
    assert json.loads(out)["best_date"] == "2026-12-31"

    code, out, _ = run_cli("job", "cancel", "job-2", *target)
    assert (code, out) == (0, "job-2\tcancelled\t0%\thttps://example.com/a.jpg\n")
    code, out, err = run_cli("job", "watch", "job-2", *target)
    assert code == 1 and err == "datalid: job job-2: ended cancelled\n"

    for _ in range(3):
        run_cli("job", "submit", str(image), *target)
    code, out, _ = run_cli("job", "list", "--page-size", "2", *target)
    assert [line.split("\t")[0] for line in out.splitlines()] == [f"job-{i}" for i in range(1, 6)]
    code, out, _ = run_cli("job", "list", "--state", "cancelled", "--json", *target)
    assert [json.loads(line)["job_id"] for line in out.splitlines()] == ["job-2"]

    code, out, _ = run_cli("job", "delete", "job-1", *target)
    assert (code, out) == (0, "deleted job-1\n")
    code, out, err = run_cli("job", "get", "job-1", *target)
    assert (code, out) == (1, "")
    assert err == "datalid: job get: NotFound: NOT_FOUND: job 'job-1' not found\n"
    page_sizes = [c.request.page_size for c in fake_server.behaviour.calls if c.method == "ListJobs"]
    assert page_sizes[:3] == [2, 2, 2]
    states = [c.request.state for c in fake_server.behaviour.calls if c.method == "ListJobs"]
    assert states[-1] == job_service_pb2.JOB_STATE_CANCELLED


def test_job_watch_of_a_failed_job_exits_1(fake_server: FakeServer) -> None:
    run_cli("job", "submit", "--url", FAILING_URL, "--target", fake_server.target)
    code, out, err = run_cli("job", "watch", "job-1", "--json", "--target", fake_server.target)
    assert code == 1
    last = json.loads(out.splitlines()[-1])
    assert (last["state"], last["error"]) == ("failed", "InvalidInput: INVALID_ARGUMENT: image: not an image")
    assert err == "datalid: job job-1: ended failed\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["stream"],
        ["stream", "--camera", "0", "--video", "x.mp4"],
        ["stream", "--camera", "-1"],
        ["stream", "--frames", "d", "--fps", "0"],
        ["stream", "--frames", "d", "--policy", "newest"],
        ["batch"],
        ["batch", "d", "--chunk-size", "0"],
        ["batch", "d", "--json", "--csv", "x.csv"],
        ["job"],
        ["job", "submit"],
        ["job", "submit", "x.jpg", "--url", "https://example.com/x.jpg"],
        ["job", "get"],
        ["job", "list", "--state", "done"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = [str(tmp_path) if a == "d" else a for a in argv]
    (tmp_path / "a.jpg").write_bytes(JPEG)
    with pytest.raises(SystemExit) as info:
        main([*argv, "--target", "127.0.0.1:1"], environ={})
    assert info.value.code == 2
    assert "usage: datalid" in capsys.readouterr().err


def test_batch_calls_stay_within_the_servers_batch_bytes(fake_server: FakeServer, batch_dir: Path) -> None:
    """Sixteen 4.5 MB photos in one call broke the server's 64 MiB batch limit: all sixteen failed."""
    fake_server.behaviour.batch_max_bytes = 2 * len(JPEG) + 10  # two photos a call, at most
    (batch_dir / "d.jpg").write_bytes(JPEG)
    code, out, _ = run_cli("batch", str(batch_dir), "--json", "--target", fake_server.target)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["a.jpg", "b.png", "c.JPEG", "d.jpg"]
    calls = [c.request for c in fake_server.behaviour.calls if c.method == "ProcessBatch"]
    assert all(sum(len(r.image) for r in call) <= 2 * len(JPEG) + 10 for call in calls)
    assert sum(len(call) for call in calls) == 4 and code == 1  # b.png is not an image


def test_batch_calls_stay_within_the_servers_batch_items(fake_server: FakeServer, batch_dir: Path) -> None:
    fake_server.behaviour.batch_max_items = 2
    run_cli("batch", str(batch_dir), "--chunk-size", "16", "--target", fake_server.target)
    calls = [c.request for c in fake_server.behaviour.calls if c.method == "ProcessBatch"]
    assert [len(call) for call in calls] == [2, 1]
