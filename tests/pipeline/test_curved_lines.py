"""Curved text lines: boxed along their curve and cut out straightened (pipeline/curved_lines.py).

The bands here are drawn as DB would map them: a thick arc (print on a round tub), a straight
bar, two arcs run into one band. The last test reads a hard set v2 scene, rendered from its seed, on
the shipped models: a dot-matrix code on a curved label whose lines the rectangle boxes drop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import cv2
import numpy as np
import pytest
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

from bench.hard_set import Slot, encoded, render
from pipeline import PipelineConfig, ProcessOptions, load_pipeline
from pipeline.curved_lines import (
    CurveAwareDBPostProcess,
    crop_polygon,
    curved_band,
    is_polygon,
    polygon_edges,
    polygon_size,
)
from pipeline.ocr import OcrEngine
from pipeline.stacked_lines import split_stacked

UNCLIP = 1.6


def _arc_map(sag: float, thickness: int = 12, width: int = 500, rows: int = 200) -> np.ndarray:
    """A probability map holding one band along ``y = 100 + sag * (2x/width - 1)^2``."""
    prob = np.zeros((rows, width + 100), dtype=np.float32)
    xs = np.arange(50, 50 + width)
    ys = 100 + sag * ((2 * (xs - 50) / width) - 1) ** 2 - sag / 2
    points = np.stack([xs, ys], axis=1).round().astype(np.int32)
    cv2.polylines(prob, [points], False, 1.0, thickness=thickness)
    return prob


def _contour(prob: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours((prob > 0.3).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    assert len(contours) == 1
    return contours[0]


def test_a_bent_band_gets_a_polygon_along_its_curve() -> None:
    prob = _arc_map(sag=40)
    band = curved_band(_contour(prob), prob, UNCLIP)
    assert band is not None
    assert is_polygon(band.polygon) and len(band.polygon) % 2 == 0
    assert band.score > 0.9  # its own pixels, not the rectangle's background
    top, bottom = band.polygon[: len(band.polygon) // 2], band.polygon[len(band.polygon) // 2 :][::-1]
    assert (top[:, 0] == np.sort(top[:, 0])).all()  # left to right
    assert (bottom[:, 1] > top[:, 1]).all()  # below the top edge, station by station
    # Grown as a rectangle of its length and thickness would be, so no more than a few
    # thicknesses tall: it takes in no line above or below.
    width, height = polygon_size(band.polygon)
    assert 500 <= width <= 620
    assert 12 <= height <= 4 * 12


def test_straight_short_and_run_together_bands_keep_their_rectangle() -> None:
    straight = _arc_map(sag=0)
    assert curved_band(_contour(straight), straight, UNCLIP) is None
    short = _arc_map(sag=8, width=50)
    assert curved_band(_contour(short), short, UNCLIP) is None


def test_a_curved_box_of_two_lines_is_split_along_its_curve() -> None:
    """DB can run two curved lines into one band; the stacked-line split cuts its polygon along
    the curve, as it cuts a rectangle of two lines."""
    band_map = _arc_map(sag=40, thickness=34)
    band = curved_band(_contour(band_map), band_map, UNCLIP)
    assert band is not None
    ink = np.maximum(
        np.roll(_arc_map(sag=40, thickness=8), -10, axis=0),
        np.roll(_arc_map(sag=40, thickness=8), 10, axis=0),
    )
    image = np.repeat((255 - ink * 255).astype(np.uint8)[..., None], 3, axis=2)
    parts = split_stacked(image, [band.polygon])
    assert len(parts) == 2 and all(is_polygon(part) for part in parts)
    upper, lower = (polygon_edges(part) for part in parts)
    assert np.allclose(
        upper[1], lower[0], atol=1.0
    )  # cut along one curve: the upper's bottom is the lower's top
    assert (upper[0][:, 1] < lower[0][:, 1]).all()


def test_the_post_processing_keeps_a_bent_band_rapidocr_drops() -> None:
    prob = _arc_map(sag=60)[None, None]
    curved, _ = CurveAwareDBPostProcess(0.3, 0.5, 1000, UNCLIP)(prob, (400, 1200))
    assert len(curved) == 1 and is_polygon(curved[0])
    assert curved[0][:, 0].max() <= 1200 and curved[0][:, 1].max() <= 400  # in the caller's pixels


def test_straight_print_is_boxed_exactly_as_rapidocr_boxes_it() -> None:
    """The rectangle path is rapidocr's own loop (pinned rapidocr-onnxruntime 1.4.4): straight
    lines, tilted lines and specks get the same boxes and scores as before."""
    prob = np.zeros((1, 1, 400, 600), dtype=np.float32)
    cv2.line(prob[0, 0], (40, 50), (560, 50), 1.0, thickness=14)
    cv2.line(prob[0, 0], (60, 150), (500, 220), 0.9, thickness=10)
    cv2.circle(prob[0, 0], (300, 330), 4, 0.8, thickness=-1)
    cv2.rectangle(prob[0, 0], (40, 300), (200, 360), 0.7, thickness=-1)
    ours, our_scores = CurveAwareDBPostProcess(0.3, 0.5, 1000, UNCLIP)(prob, (800, 1200))
    theirs, their_scores = DBPostProcess(0.3, 0.5, 1000, UNCLIP)(prob, (800, 1200))
    assert len(ours) == len(theirs) == 4
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert our_scores == their_scores


def test_a_straightened_crop_lays_the_band_along_a_row() -> None:
    prob = _arc_map(sag=50)
    band = curved_band(_contour(prob), prob, UNCLIP)
    assert band is not None
    image = np.repeat((prob * 255).astype(np.uint8)[..., None], 3, axis=2)
    crop = crop_polygon(image, band.polygon)
    width, height = polygon_size(band.polygon)
    assert crop.shape == (int(height), int(width), 3)
    # Every column of the straightened band holds the stroke, in the same rows.
    inked = crop[..., 0] > 127
    columns = inked[:, 25:-25]  # the polygon reaches past the band's ends, as a grown box does
    assert columns.any(axis=0).all()
    centres = [np.nonzero(column)[0].mean() for column in columns.T]
    assert np.ptp(centres) <= 3
    half = crop_polygon(image, band.polygon, (int(width * 0.5), int(height * 0.5)))
    assert half.shape[:2] == (int(height * 0.5), int(width * 0.5))


def test_a_tight_arc_is_boxed_as_thick_as_it_is_and_no_longer() -> None:
    """A band bent round a lid (a parabola rising 200 px over 200 px) is longer along its arc
    than its chord: its thickness and its ends are measured along the arc."""
    prob = np.zeros((300, 400), dtype=np.float32)
    xs = np.arange(100, 301)
    points = np.stack([xs, 40 + 0.02 * (xs - 200) ** 2], axis=1).round().astype(np.int32)
    cv2.polylines(prob, [points], False, 1.0, thickness=12)
    band = curved_band(_contour(prob), prob, UNCLIP)
    assert band is not None
    _, height = polygon_size(band.polygon)
    assert height <= 3.5 * 12  # 12 thick, grown by the unclip distance on each side
    # Its ends stay within the unclip distance (about 10 px here) of the band's own ends.
    ends = band.polygon[[0, len(band.polygon) // 2 - 1]]
    assert np.linalg.norm(ends - [[100, 240], [300, 240]], axis=1).max() <= 40


def test_a_curved_line_on_a_photo_longer_than_remap_takes_is_cut_out() -> None:
    """OpenCV's remap refuses sources of 32,767 px a side or more; the decode limits let in
    photos up to about 44,700 px long. The crop is cut from the part under the polygon."""
    prob = _arc_map(sag=40)
    band = curved_band(_contour(prob), prob, UNCLIP)
    assert band is not None
    image = np.full((400, 33_000, 3), 255, dtype=np.uint8)
    polygon = band.polygon + np.array([32_000, 0], dtype=np.float32)
    image[60:160, 32_050:32_550] = 0
    crop = crop_polygon(image, polygon)
    width, height = polygon_size(polygon)
    assert crop.shape == (int(height), int(width), 3)
    assert (crop < 128).any()
    # A polygon across the whole long photo: its source is shrunk to fit, the crop is as asked.
    long_polygon = band.polygon * np.array([66.0, 1.0], dtype=np.float32)
    assert crop_polygon(image, long_polygon, (2000, 30)).shape == (30, 2000, 3)


@pytest.mark.slow
def test_a_curved_dot_matrix_code_is_read_whole() -> None:
    """Hard set v2 940367: ``PRO.DATE: 12 APR 2024`` over ``07 APR 2026 A`` on a curved label.
    Boxed by rectangles, both lines are dropped (their rectangles are mostly background); boxed
    along their curves, the first is read with its keyword and the second whole."""
    image = render(Slot("blur + glare", "cij"), 940367).image
    label = image[560:760, :]  # the code's part of the photo
    config = PipelineConfig()

    def lines(curved: bool) -> list[str]:
        ocr_config = dataclasses.replace(config.ocr, curved_lines=curved, coder_det_model_name="")
        with_curves = OcrEngine.load(ocr_config, config.runtime)
        return [
            line.text
            for line in with_curves.read(label, scale=with_curves.detector.reading_scale(image.shape))
        ]

    flat, curved = lines(False), lines(True)
    assert not any("12 APR" in text for text in flat)
    assert not any("2026" in text for text in flat)
    assert any("DATE" in text and "12 APR" in text for text in curved)
    assert any("07 APR 2026" in text for text in curved)


@pytest.mark.slow
@pytest.mark.parametrize("way", ["process", "aprocess"])
def test_a_window_that_cuts_a_curved_dated_line_is_grown_and_read_whole(way: str) -> None:
    """The same scene through the pipeline: the detector's windows cover the right half of the
    code only, and read ``E: 12 APR 2024``, an expiry date by its lone-letter keyword. The
    window grows along the dated line it cuts (pipeline.regions.grown) and the curved lines are
    read whole, keyword and all: 12 APR 2024 is the production date, 07 APR 2026 the answer."""
    data, _ = encoded(render(Slot("blur + glare", "cij"), 940367).image)
    options = ProcessOptions(reference_date=dt.date(2026, 11, 30))
    with load_pipeline(PipelineConfig()) as pipeline:
        if way == "process":
            result = pipeline.process(data, options)
        else:
            result = asyncio.run(pipeline.aprocess(data, options, deadline=None))
    assert result.best_date is not None and result.best_date.date == dt.date(2026, 4, 7)
    assert any("DATE" in line.text and "12 APR 2024" in line.text for line in result.ocr_lines)
