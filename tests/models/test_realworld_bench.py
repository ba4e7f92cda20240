"""bench/realworld.py end to end on three drawn labels (no real photos needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import realworld

pytestmark = pytest.mark.slow


def _label(text: str) -> np.ndarray:
    image = np.full((480, 640, 3), 235, np.uint8)
    if text:
        cv2.putText(image, text, (60, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA)
    return image


def test_the_benchmark_counts_exact_dates_and_each_kind_of_miss(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    rows = [
        # Read as printed: exact, and the parser alone reads the printed text too.
        ("images/exact.png", "EXP 12/05/2027", "2027-05-12", "EXP 12/05/2027", "font"),
        # Nothing printed: no date at all.
        ("images/blank.png", "", "2027-05-12", "", "blank"),
        # Labelled a year later than printed: day and month right, the year wrong, and the parser
        # alone misses it too, so the miss is the parser's (here: the label's) and not the OCR's.
        ("images/year.png", "EXP 12/05/2027", "2028-05-12", "EXP 12/05/2027", "font"),
    ]
    with (tmp_path / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "expected", "month_only", "printed_text", "print_style"])
        for name, drawn, expected, printed, style in rows:
            cv2.imwrite(str(tmp_path / name), _label(drawn))
            writer.writerow([name, expected, "no", printed, style])

    report = realworld.main(
        [str(tmp_path / "manifest.csv"), "--images", str(tmp_path), "--json", str(tmp_path / "r.json"),
         "--failures", str(tmp_path / "failures")]
    )  # fmt: skip

    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["reference_date"] == "2026-11-30"
    assert (report["photos"], report["exact"]) == (3, 1)
    assert {p["file"]: p["outcome"] for p in report["photos_detail"]} == {
        "images/exact.png": "exact",
        "images/blank.png": "no_date",
        "images/year.png": "wrong_year",
    }
    assert (report["no_date"], report["wrong_year"], report["not_chosen"], report["expiry_not_found"]) == (
        1, 1, 0, 0,
    )  # fmt: skip
    assert report["parser_alone"] == {"photos_with_text": 2, "right": 1, "rate": 0.5}
    assert report["misses_by_cause"] == {"ocr": 0, "parser_on_ocr_text": 0, "parser": 1, "unknown": 1}
    assert report["by_print_style"]["font"]["photos"] == 2
    assert report["by_print_style"]["font"]["exact"] == 1
    assert report["by_print_style"]["blank"]["no_date"] == 1
    assert report["stages_ms"]["total_ms"]["mean"] > 0
    assert report["stages_ms"]["total_ms"]["p95"] >= report["stages_ms"]["total_ms"]["mean"] * 0.5
    pictures = sorted(p.name for p in (tmp_path / "failures").iterdir())
    assert pictures == ["no_date-images_blank.jpg", "wrong_year-images_year.jpg"]
    assert cv2.imread(str(tmp_path / "failures" / pictures[1])) is not None


def test_expected_forms_and_miss_kinds() -> None:
    from pipeline.types import DateKind, DatePrecision, ParsedDate

    def parsed(iso: str) -> ParsedDate:
        date = realworld.dt.date.fromisoformat(iso)
        return ParsedDate(date, DateKind.EXPIRY, DatePrecision.DAY, False, 0.9, iso)

    full, month, month_day = (
        realworld.Row("a", "2026-07-06"),
        realworld.Row("b", "2026-07"),
        realworld.Row("c", "07-06"),
    )
    assert realworld.classify(full, parsed("2026-07-06"), ()) == "exact"
    assert realworld.classify(full, parsed("2027-07-06"), ()) == "wrong_year"
    assert realworld.classify(full, parsed("2025-01-06"), [parsed("2026-07-06")]) == "not_chosen"
    assert realworld.classify(full, parsed("2026-07-08"), [parsed("2026-07-08")]) == "expiry_not_found"
    assert realworld.classify(full, None, ()) == "no_date"
    assert realworld.classify(month, parsed("2026-07-31"), ()) == "exact"
    assert realworld.classify(month, parsed("2025-07-31"), ()) == "wrong_year"
    assert realworld.classify(month_day, parsed("2030-07-06"), ()) == "exact"
    assert realworld.scene_expected("02 OCT") == "10-02"
    assert realworld.scene_expected("18.07.30") == "2030-07-18"
    assert realworld.scene_expected("09/2027") == "2027-09"
    assert realworld.scene_expected("09OCT27") == "2027-10-09"
    assert realworld.print_family("dot-matrix inkjet on foil") == "dot-matrix"
    assert realworld.print_family("thermal/inkjet on glossy film") == "thermal"


def test_a_miss_is_the_ocrs_only_when_the_date_was_not_read() -> None:
    row = realworld.Row("x", "2026-08-20", printed_text="MFG200825 1\nEXP200826 N")
    alone = realworld.parser_alone(row, realworld.REFERENCE_DATE)
    assert alone is not None and alone.date.isoformat() == "2026-08-20"
    assert realworld.miss_cause(row, alone, ["SOFT MILK", "EXP 20.08.26N"]) == "parser_on_ocr_text"
    assert realworld.miss_cause(row, alone, ["EXP280826 N"]) == "ocr"
    wrong = realworld.Row("y", "2027-08-20", printed_text="EXP200826")
    assert (
        realworld.miss_cause(wrong, realworld.parser_alone(wrong, realworld.REFERENCE_DATE), []) == "parser"
    )
    assert realworld.miss_cause(realworld.Row("z", "08-20"), None, []) == "unknown"


def test_a_photo_is_sent_with_its_longer_side_brought_down_as_apps_send_it() -> None:
    ok, png = cv2.imencode(".png", _label("EXP 12/05/2027"))
    assert ok
    smaller = realworld.shrunk(png.tobytes(), 320)
    image = cv2.imdecode(np.frombuffer(smaller, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    assert smaller[:2] == b"\xff\xd8"  # re-encoded as JPEG
    # A photo already that small, and bytes that are no photo, are sent as they are.
    assert realworld.shrunk(png.tobytes(), 640) == png.tobytes()
    assert realworld.shrunk(b"not a photo", 320) == b"not a photo"


def test_a_photo_is_sent_turned_as_a_frame_without_its_orientation() -> None:
    image = _label("EXP 12/05/2027")
    ok, png = cv2.imencode(".png", image)
    assert ok
    # Each turn clockwise, and how to turn it back.
    for turn, back in ((90, cv2.ROTATE_90_COUNTERCLOCKWISE), (270, cv2.ROTATE_90_CLOCKWISE)):
        data = realworld.shrunk(png.tobytes(), 0, turn)
        sent = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert sent.shape == (image.shape[1], image.shape[0], 3)
        # The turn, not a mirror: the sent photo turned back is the label (JPEG aside).
        assert np.abs(cv2.rotate(sent, back).astype(int) - image.astype(int)).mean() < 4
    # Shrunk first, then turned: a 640 x 480 photo brought down to 320 and turned is 240 wide.
    smaller = realworld.shrunk(png.tobytes(), 320, 180)
    assert cv2.imdecode(np.frombuffer(smaller, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
