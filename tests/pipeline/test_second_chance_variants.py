"""The variant maker and the second chance's plan and vote, without models.

Variants must stay within the text detector's caps whatever the source, and every box read on a
turned or scaled variant must come back to exactly the pixels it covers in the source.
"""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest

from pipeline.dates.years import YearWindow
from pipeline.second_chance import (
    CODE_BLOCK_DATES,
    MIN_VOTES,
    VARIANTS_AT_ONCE,
    Need,
    Target,
    VariantRead,
    completes,
    cut_date_line,
    doubtful,
    lost_digit,
    need,
    plan,
    read_short,
    settled,
    winner,
)
from pipeline.types import BoundingBox, DateKind, DatePrecision, OcrLine, ParsedDate
from pipeline.variants import (
    VARIANT_MAX_PIXELS,
    VARIANT_MAX_SIDE_PX,
    Step,
    blank,
    dot_grid,
    make_variant,
    parse_plan,
    skew_angle,
)
from tests.pipeline.second_chance_labels import dot_matrix_label

GEOMETRIC = [(Step.TURN90,), (Step.TURN180,), (Step.TURN270,), (Step.UPSCALE,), (Step.UPSCALE, Step.TURN90)]
EVERY_STEP = [(step,) for step in Step]


def _marked(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A black image with one white rectangle (x1, y1, x2, y2, pixel edges) in it."""
    image = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image


def _found(image: np.ndarray) -> BoundingBox:
    """The box of the white pixels, in pixel edges."""
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((image[..., 0] > 127).astype(np.uint8)))
    return BoundingBox(float(x), float(y), float(x + w), float(y + h))


@pytest.mark.parametrize("steps", [(Step.TURN90,), (Step.TURN180,), (Step.TURN270,)])
@pytest.mark.parametrize("shape", [(240, 320), (320, 240), (97, 1003)])
def test_a_box_read_on_a_turned_variant_comes_back_exactly(
    steps: tuple[Step, ...], shape: tuple[int, int]
) -> None:
    height, width = shape
    box = (width // 5, height // 7, width // 5 + width // 3, height // 7 + height // 4)
    source = _marked(height, width, box)
    variant = make_variant(source, steps)

    assert variant is not None
    assert variant.image.shape[:2] == (shape if steps == (Step.TURN180,) else shape[::-1])
    assert variant.source_box(_found(variant.image)) == BoundingBox(*map(float, box))


def test_a_box_read_on_an_upscaled_variant_comes_back_exactly() -> None:
    box = (40, 30, 140, 70)
    variant = make_variant(_marked(200, 300, box), (Step.UPSCALE,))

    assert variant is not None and variant.image.shape[:2] == (400, 600)
    back = variant.source_box(_found(variant.image))
    # Cubic interpolation can ring over one pixel of the doubled edge: half a source pixel at most.
    assert np.allclose([back.x1, back.y1, back.x2, back.y2], box, atol=0.5)
    # Text detection reads it at the first read's scale, so the text shows twice as large.
    assert variant.read_scale(0.8) == pytest.approx(0.8)


def test_turns_and_scales_compose() -> None:
    box = (10, 20, 50, 35)
    variant = make_variant(_marked(100, 160, box), (Step.UPSCALE, Step.TURN90))

    assert variant is not None and variant.image.shape[:2] == (320, 200)
    back = variant.source_box(_found(variant.image))
    assert np.allclose([back.x1, back.y1, back.x2, back.y2], box, atol=0.5)


def test_lines_keep_their_text_and_move_to_source_pixels() -> None:
    variant = make_variant(_marked(100, 200, (0, 0, 1, 1)), (Step.TURN180,))
    assert variant is not None
    line = OcrLine("EXP 16/11/2026", 0.9, BoundingBox(0.0, 0.0, 20.0, 10.0), detection_index=2)

    (moved,) = variant.source_lines([line])

    assert moved.text == line.text and moved.confidence == line.confidence and moved.detection_index == 2
    assert moved.box == BoundingBox(180.0, 90.0, 200.0, 100.0)


@pytest.mark.parametrize("steps", [*EVERY_STEP, (Step.DOTS, Step.UPSCALE), (Step.DESKEW, Step.UPSCALE)])
@pytest.mark.parametrize("shape", [(16, 16), (1, 600), (600, 1), (3000, 4000), (900, 44_700), (6324, 6324)])
def test_every_variant_is_within_the_caps(steps: tuple[Step, ...], shape: tuple[int, int]) -> None:
    # A photo of the largest accepted sizes (40 MP, and the 1:50 aspect cap), text-like stripes on
    # it, grey and red (the neutral step has colour to take away).
    image = np.full((*shape, 3), 200, np.uint8)
    image[::7] = 30
    image[3::7] = (40, 40, 200)
    variant = make_variant(image, steps)

    if variant is not None:
        height, width = variant.image.shape[:2]
        assert height * width <= VARIANT_MAX_PIXELS
        assert max(height, width) <= VARIANT_MAX_SIDE_PX
        assert variant.image.dtype == np.uint8 and variant.image.shape[2] == 3


def test_a_large_photo_is_shrunk_and_its_boxes_still_come_back() -> None:
    box = (1000, 800, 3000, 1600)
    variant = make_variant(_marked(3000, 5000, box), (Step.TURN90,))

    assert variant is not None and variant.image.shape[0] * variant.image.shape[1] <= VARIANT_MAX_PIXELS
    back = variant.source_box(_found(variant.image))
    assert np.allclose([back.x1, back.y1, back.x2, back.y2], box, atol=2.0)
    # Read at the first read's scale times the shrink: the text detector sees it as large as before.
    assert variant.read_scale(0.5) == pytest.approx(0.5 * 5000 / variant.image.shape[0], rel=1e-3)


def test_dots_are_measured_on_dot_matrix_print_only() -> None:
    label = dot_matrix_label("EXP 16/11/2026", pitch_px=12, dot_radius_px=3).image
    grid = dot_grid(label)
    assert grid is not None and grid.dark
    assert grid.pitch_px == pytest.approx(12, abs=1.0)
    assert 4 <= grid.diameter_px <= 9

    white = dot_grid(255 - label)
    assert white is not None and not white.dark

    solid = np.full((300, 900, 3), 235, np.uint8)
    cv2.putText(solid, "EXP 16/11/2026", (40, 180), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (20, 20, 20), 6)
    assert dot_grid(solid) is None
    # Scattered specks of one size are not a grid either.
    specks = np.full((600, 600, 3), 235, np.uint8)
    for x, y in np.random.default_rng(1).integers(5, 595, size=(400, 2)):
        cv2.circle(specks, (int(x), int(y)), 2, (20, 20, 20), -1)
    assert dot_grid(specks) is None
    # Without dots, the variant is not made: it would read the same pixels again.
    assert make_variant(solid, (Step.DOTS,)) is None


def test_dots_that_blur_joins_are_measured_apart() -> None:
    # Dots 8 px across, 10 px apart, blurred: the ink mask joins each stroke's dots into one
    # piece (no grid), the eroded mask parts them again and the pitch between centres stays.
    label = cv2.GaussianBlur(
        dot_matrix_label("EXP 16/11/2026", pitch_px=10, dot_radius_px=4).image, (3, 3), 0
    )
    grid = dot_grid(label)
    assert grid is not None and grid.dark
    assert grid.pitch_px == pytest.approx(10, abs=1.0)


def test_joined_dots_become_strokes() -> None:
    label = dot_matrix_label("16/11", pitch_px=12, dot_radius_px=3).image
    variant = make_variant(label, (Step.DOTS,))
    assert variant is not None

    def ink_pieces(image: np.ndarray) -> int:
        ink = (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) < 128).astype(np.uint8)
        return cv2.connectedComponents(ink)[0] - 1

    # Each dot is a piece before (47 dots); after, a glyph is one to three strokes.
    assert ink_pieces(label) >= 45
    assert ink_pieces(variant.image) <= 3 * len("16/11")


def test_flat_lifts_dots_off_a_streaked_ground() -> None:
    # Dots on film whose shading runs in bands (hard set v3 960092): a threshold takes the dark
    # bands for ink; the flat variant keeps the dots and drops the bands.
    label = dot_matrix_label("16/11", pitch_px=12, dot_radius_px=3).image
    rows = np.arange(label.shape[0], dtype=np.float32)[:, None, None]
    columns = np.arange(label.shape[1], dtype=np.float32)[None, :, None]
    shade = 0.6 + 0.4 * np.sin(rows / 7.0 + columns / 40.0)
    streaked = np.clip(label.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    variant = make_variant(streaked, (Step.FLAT,))
    assert variant is not None and variant.image.shape == streaked.shape

    def ink(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) < 128

    dots = ink(label)
    assert np.count_nonzero(ink(streaked) & ~dots) > 0.3 * dots.size  # the bands read as ink
    assert np.count_nonzero(ink(variant.image) & dots) >= 0.95 * np.count_nonzero(dots)
    assert np.count_nonzero(ink(variant.image) & ~dots) < 0.01 * dots.size


def _label_over_artwork() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """White strokes across green ones on a purple ground (hard set v2 940199's colours, BGR: white
    print across a line of green text), and the masks of the white and of the green. Bars, not
    glyphs: every pixel is one of the three colours, as anti-aliased text's edges are not."""
    image = np.zeros((120, 400, 3), np.uint8)
    image[:] = (160, 31, 75)
    image[40:60, 10:390:12] = (80, 230, 90)
    image[40:60, 11:390:12] = (80, 230, 90)
    image[30:80:3, 20:300] = (235, 235, 235)
    white = np.all(image == (235, 235, 235), axis=2)
    green = np.all(image == (80, 230, 90), axis=2)
    return image, white, green


def test_neutral_print_is_kept_and_coloured_artwork_goes_flat() -> None:
    image, white, green = _label_over_artwork()
    variant = make_variant(image, (Step.NEUTRAL,))

    assert variant is not None and variant.image.shape == image.shape
    gray = cv2.cvtColor(variant.image, cv2.COLOR_BGR2GRAY).astype(int)
    ground = ~white & ~green
    # The white print stays white; the green text takes the purple ground's grey.
    assert gray[white].min() >= 225
    assert np.ptp(gray[green | ground]) == 0 and gray[ground].max() < 200
    assert variant.source_box(BoundingBox(10.0, 20.0, 30.0, 40.0)) == BoundingBox(10.0, 20.0, 30.0, 40.0)


@pytest.mark.parametrize("ink", [(20, 20, 20), (240, 240, 240)], ids=["black", "white"])
def test_thin_neutral_print_keeps_its_lightness_through_jpeg(ink: tuple[int, int, int]) -> None:
    # JPEG keeps colour at half resolution, so a 1 px stroke across coloured text takes on the
    # colours round it: against its ground's colour that is not its own, and it is kept. The
    # green text's strokes (3 px) are narrow beside the ground's square (25 px on 480 px).
    purple = (160, 31, 75)
    image = np.full((480, 800, 3), purple, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, "wheat sugar Crispy Distributed", (20, 240), font, 1.2, (80, 230, 90), 3, cv2.LINE_AA)
    green = np.abs(image.astype(int) - purple).sum(axis=2) > 150
    cv2.putText(image, "ED: 27.08.30", (60, 250), font, 0.9, ink, 1, cv2.LINE_AA)
    stroke = np.abs(image.astype(int) - ink).sum(axis=2) < 30
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    variant = make_variant(cv2.imdecode(encoded, cv2.IMREAD_COLOR), (Step.NEUTRAL,))

    assert variant is not None
    gray = cv2.cvtColor(variant.image, cv2.COLOR_BGR2GRAY).astype(float)
    ground = float(np.median(gray[~green & ~stroke]))
    kept = np.abs(gray[stroke & ~green] - ground) > 25
    assert kept.mean() >= 0.8, kept.mean()
    # The green text, off the print, takes its ground's grey.
    assert np.abs(np.median(gray[green & ~stroke]) - ground) < 10


def test_an_image_without_colour_has_no_neutral_variant() -> None:
    # Black print on white or grey: nothing to take away, no read to pay for.
    for ground in (255, 128):
        image = np.full((120, 400, 3), ground, np.uint8)
        cv2.putText(image, "ED: 27.08.30", (20, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
        assert make_variant(image, (Step.NEUTRAL,)) is None


@pytest.mark.parametrize("ground", [(20, 200, 240), (60, 160, 60)], ids=["yellow", "green"])
def test_print_on_a_coloured_ground_keeps_its_lightness(ground: tuple[int, int, int]) -> None:
    # Black print on one colour, JPEG-coded: the ground's colour is nobody's own; whether or not
    # JPEG's fringes make a variant, the print is in it as dark as it was.
    image = np.full((120, 400, 3), ground, np.uint8)
    cv2.putText(image, "ED: 27.08.30", (20, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    ink = image.sum(axis=2) == 0
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    variant = make_variant(decoded, (Step.NEUTRAL,))
    if variant is not None:
        before = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY).astype(int)
        after = cv2.cvtColor(variant.image, cv2.COLOR_BGR2GRAY).astype(int)
        assert np.median(np.abs(after[ink] - before[ink])) <= 3


def test_skew_is_measured_and_levelled() -> None:
    label = np.full((400, 900, 3), 235, np.uint8)
    for row in range(3):
        cv2.putText(
            label,
            "BEST BEFORE 16 11 2026",
            (40, 110 + 100 * row),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.6,
            (20,) * 3,
            4,
        )
    turned = cv2.warpAffine(
        label, cv2.getRotationMatrix2D((450, 200), -15, 1.0), (900, 400), borderMode=cv2.BORDER_REPLICATE
    )

    assert skew_angle(turned) == pytest.approx(15, abs=2)
    assert abs(skew_angle(label)) < 2
    assert make_variant(label, (Step.DESKEW,)) is None
    levelled = make_variant(turned, (Step.DESKEW,))
    assert levelled is not None and abs(skew_angle(levelled.image)) < 2
    # Steeper than 45 degrees, either way: levelled too (the turn variants are quarter turns).
    for angle in (-65, 70):
        steep = cv2.warpAffine(
            np.pad(label, ((250, 250), (0, 0), (0, 0)), mode="edge"),
            cv2.getRotationMatrix2D((450, 450), angle, 1.0),
            (900, 900),
            borderMode=cv2.BORDER_REPLICATE,
        )
        assert skew_angle(steep) == pytest.approx(-angle, abs=2), angle


def test_plans_parse_and_bad_steps_are_named() -> None:
    assert parse_plan("dots, turn180,contrast+upscale,") == (
        (Step.DOTS,),
        (Step.TURN180,),
        (Step.CONTRAST, Step.UPSCALE),
    )
    assert parse_plan("") == ()
    with pytest.raises(ValueError, match="unknown step in 'sharpen'"):
        parse_plan("dots,sharpen")
    with pytest.raises(ValueError, match="repeats a step"):
        parse_plan("dots+dots")


def _read(
    name: str, date: dt.date | None, confidence: float = 0.8, kind: DateKind = DateKind.EXPIRY
) -> VariantRead:
    best = (
        ParsedDate(date, kind, DatePrecision.DAY, False, confidence, date.isoformat())
        if date is not None
        else None
    )
    return VariantRead(name, (), best)


A, B = dt.date(2026, 11, 16), dt.date(2020, 11, 16)


def test_the_date_most_variants_read_wins() -> None:
    reads = [_read("window:dots", B, 0.95), _read("window:upscale", A, 0.6), _read("window:contrast", A, 0.7)]

    assert winner(reads) == (reads[2], 2)


def test_a_tie_goes_to_the_more_confident_date_then_to_the_plan_order() -> None:
    assert winner([_read("x", B, 0.6), _read("y", A, 0.9)]) == (_read("y", A, 0.9), 1)
    assert winner([_read("x", B, 0.9), _read("y", A, 0.9)]) == (_read("x", B, 0.9), 1)
    assert winner([_read("x", None), _read("y", None)]) is None
    assert winner([]) is None


def test_a_date_read_once_without_its_keyword_does_not_stand() -> None:
    once = _read("photo:contrast", B, 0.97, DateKind.UNKNOWN)
    assert winner([once, _read("photo:dots", None)]) is None
    # A second variant reading it, or its keyword, makes it stand.
    again = _read("photo:turn90", B, 0.7, DateKind.UNKNOWN)
    assert MIN_VOTES == 2 and winner([once, again]) == (once, 2)
    labelled = _read("photo:dots", A, 0.6)
    assert winner([once, labelled]) == (labelled, 1)
    # A production date is no expiry date: read once, it does not stand either.
    assert winner([_read("window:dots", B, 0.9, DateKind.MANUFACTURE)]) is None


def test_the_coder_detectors_read_of_the_pixels_as_they_are_stands_alone() -> None:
    # No step changed what the recogniser sees: its date is a first read's, not a variant's noise.
    for name in ("photo:coder", "window:coder"):
        assert winner([_read(name, B, 0.9, DateKind.UNKNOWN)]) == (_read(name, B, 0.9, DateKind.UNKNOWN), 1)
    # Combined with a step that changes the pixels, it needs its second vote as any variant does.
    assert winner([_read("photo:coder+contrast", B, 0.9, DateKind.UNKNOWN)]) is None
    assert winner([_read("photo:dots", B, 0.9, DateKind.UNKNOWN)]) is None
    # A date that would not end a first read does not end the reading on one coder read either:
    # "11 MAY" whose year the read lost.
    lost_year = ParsedDate(A, DateKind.UNKNOWN, DatePrecision.DAY, True, 0.9, "11 MAY")
    assert winner([VariantRead("window:coder", (), lost_year)]) is None
    # After a doubtful first read ("06-11" of 06-11-29), one coder read of another line does not
    # replace it; one that completes it does.
    doubted = ParsedDate(dt.date(2011, 6, 30), DateKind.UNKNOWN, DatePrecision.MONTH, False, 0.8, "06-11")
    other = VariantRead(
        "window:coder", (), ParsedDate(B, DateKind.MANUFACTURE, DatePrecision.DAY, False, 0.9, "MFD 19-07-29")
    )
    whole = VariantRead(
        "window:coder", (), ParsedDate(A, DateKind.UNKNOWN, DatePrecision.DAY, False, 0.9, "06-11-29")
    )
    assert winner([other], doubted) is None
    assert winner([other, whole], doubted) == (whole, 1)


def test_an_unlabelled_run_of_digits_read_by_the_coder_detector_does_not_vote() -> None:
    def read(name: str, text: str, kind: DateKind = DateKind.UNKNOWN) -> VariantRead:
        return VariantRead(name, (), ParsedDate(B, kind, DatePrecision.DAY, False, 0.9, text))

    # realworld-dev 050: a production date's digits, read by the coder detector and one variant.
    assert winner([read("window:coder", "180925"), read("window:upscale", "180925")]) is None
    assert winner([read("window:coder", "18 09 25")]) is None
    assert winner([read("photo:coder+turn90", "18O925"), read("photo:dots", "18O925")]) is None
    assert winner([read("window:contrast", "180925"), read("window:upscale", "180925")]) is not None
    # Printed whole, or under its keyword, the coder detector's date votes (and stands alone).
    assert winner([read("photo:coder", "18/09/25")]) == (read("photo:coder", "18/09/25"), 1)
    assert winner([read("photo:coder", "180925", DateKind.EXPIRY)]) is not None


def test_the_coder_step_keeps_the_pixels_and_asks_for_the_coder_detector() -> None:
    image = _marked(120, 200, (20, 30, 90, 50))
    variant = make_variant(image, (Step.CODER,))
    assert variant is not None and variant.coder and np.array_equal(variant.image, image)
    assert variant.source_box(BoundingBox(20, 30, 90, 50)) == BoundingBox(20, 30, 90, 50)
    turned = make_variant(image, (Step.CODER, Step.TURN90))
    assert turned is not None and turned.coder
    plain = make_variant(image, (Step.CONTRAST,))
    assert plain is not None and not plain.coder


def _unlabelled(text: str, date: dt.date, precision: DatePrecision = DatePrecision.DAY) -> ParsedDate:
    return ParsedDate(date, DateKind.UNKNOWN, precision, False, 0.8, text)


def test_a_coders_block_read_once_stands() -> None:
    # "22.06.23" over "05.07.23": dot-matrix on a carton that only the joined dots read.
    made, expiry = _unlabelled("22.06.23", dt.date(2023, 6, 22)), _unlabelled("05.07.23", dt.date(2023, 7, 5))
    block = VariantRead("photo:dots", (), expiry, (made, expiry))
    assert CODE_BLOCK_DATES == 2 and winner([block, _read("photo:contrast", None)]) == (block, 1)
    # One date, digits without their separators, or a month: noise can read so; it does not stand.
    alone = VariantRead("photo:dots", (), expiry, (expiry,))
    compact = _unlabelled("220623", dt.date(2023, 6, 22))
    unseparated = VariantRead("photo:dots", (), expiry, (compact, _unlabelled("050723", dt.date(2023, 7, 5))))
    month = _unlabelled("06.2023", dt.date(2023, 6, 30), DatePrecision.MONTH)
    with_month = VariantRead("photo:dots", (), expiry, (month, expiry))
    same_twice = VariantRead("photo:dots", (), expiry, (expiry, expiry))
    # The read's best is a month date beside two separated ones: not the block's answer.
    beside = VariantRead("photo:dots", (), month, (made, expiry, month))
    for read in (alone, unseparated, with_month, same_twice, beside):
        assert winner([read]) is None, read.dates
    # A block one of whose dates was repaired from an impossible one (31.10.2050 read 31.10.2030
    # from the recogniser's second choice) is noise's mark, not a code: it stands by votes alone.
    repaired = VariantRead("photo:dots", (), expiry, (made, expiry), repaired=True)
    assert winner([repaired]) is None
    assert winner([repaired, VariantRead("photo:contrast", (), expiry)]) == (repaired, 2)


def test_a_block_of_dates_with_their_months_spelt_stands() -> None:
    # Hard set v3 960106: "13 May 2027" over "12 Jan 2027", dotted, turned 60 degrees.
    expiry = _unlabelled("13 May 2027", dt.date(2027, 5, 13))
    for made in ("12 Jan 2027", "JAN 12 2027", "2027-JAN-12"):
        block = VariantRead(
            "photo:dots+deskew", (), expiry, (_unlabelled(made, dt.date(2027, 1, 12)), expiry)
        )
        assert winner([block]) == (block, 1), made
    # Without a four-digit year a spelt month is no whole date: "13 May" and "12 Jan 20" are not a block.
    short = VariantRead(
        "photo:dots",
        (),
        expiry,
        (_unlabelled("12 Jan 20", dt.date(2020, 1, 12)), _unlabelled("13 May", dt.date(2027, 5, 13))),
    )
    assert winner([short]) is None


def _parsed(
    text: str,
    date: dt.date,
    kind: DateKind,
    year_inferred: bool = False,
    precision: DatePrecision = DatePrecision.DAY,
) -> ParsedDate:
    return ParsedDate(date, kind, precision, year_inferred, 0.9, text)


CUT_YEAR = _parsed("11 MAY", dt.date(2027, 5, 11), DateKind.UNKNOWN, year_inferred=True)
CUT_PAIR = _parsed("06-11", dt.date(2011, 6, 30), DateKind.EXPIRY, precision=DatePrecision.MONTH)


def _never() -> bool:
    raise AssertionError("the dot grid was measured for a date that does not need it")


def test_what_is_doubtful() -> None:
    # What is left of a dot-matrix line whose year the read lost; on other print, an answer.
    assert doubtful(CUT_YEAR, lambda: True) and not doubtful(CUT_YEAR, lambda: False)
    # A line cut short: two two-digit numbers, or a year and a month, read as a month; a year
    # read as its century (20). Doubtful on any print, with or without a keyword.
    assert doubtful(CUT_PAIR, _never)
    year_month = _parsed("2024-03", dt.date(2024, 3, 31), DateKind.UNKNOWN, precision=DatePrecision.MONTH)
    assert doubtful(year_month, _never)
    assert doubtful(_parsed("14 Apr 20", dt.date(2020, 4, 14), DateKind.EXPIRY), _never)
    spaced = _parsed("06 / 11", dt.date(2011, 6, 30), DateKind.UNKNOWN, precision=DatePrecision.MONTH)
    assert doubtful(spaced, _never)
    # Beyond doubt: a labelled day and month ("Use by 12 AUG"), a whole date, a four-digit year.
    for found in (
        _parsed("12 AUG", dt.date(2027, 8, 12), DateKind.EXPIRY, year_inferred=True),
        _parsed("11 MAY 2025", dt.date(2025, 5, 11), DateKind.UNKNOWN),
        _parsed("06-11-29", dt.date(2029, 11, 6), DateKind.UNKNOWN),
        _parsed("06/2027", dt.date(2027, 6, 30), DateKind.UNKNOWN, precision=DatePrecision.MONTH),
        # A label's own month formats: MM/YY whose YY is no month, a labelled year and month.
        _parsed("06/26", dt.date(2026, 6, 30), DateKind.EXPIRY, precision=DatePrecision.MONTH),
        _parsed("2026-03", dt.date(2026, 3, 31), DateKind.EXPIRY, precision=DatePrecision.MONTH),
        # A two-digit year 20 in a numeric date is whole; 2020 printed in full is no cut year.
        _parsed("14/04/20", dt.date(2020, 4, 14), DateKind.EXPIRY),
        _parsed("12 DEC 2020", dt.date(2020, 12, 12), DateKind.EXPIRY),
    ):
        assert not doubtful(found, _never), found.text
    # Without a word on the print, every unlabelled date without a year is doubtful: a date that
    # replaces a doubtful one must be beyond doubt on any print.
    assert doubtful(CUT_YEAR)


def test_a_date_that_lost_a_digit_is_doubtful_on_any_print_and_only_its_completion_replaces_it() -> None:
    # "BBD: 21/11/2025" in faint dots read "1/11/2025" (hard set v4 980039): one field of one
    # digit beside two-digit ones, doubtful without the dot grid being measured.
    short = _parsed("1/11/2025", dt.date(2025, 11, 1), DateKind.EXPIRY)
    for text in ("1/11/2025", "24-9-26", "2.08.30", "28/1/25"):
        assert lost_digit(_parsed(text, dt.date(2026, 1, 1), DateKind.EXPIRY)), text
        assert doubtful(_parsed(text, dt.date(2026, 1, 1), DateKind.EXPIRY), _never), text
    assert need(short, _never) is Need.DOUBTFUL
    # Padded alike, or unpadded alike, or spelt: whole.
    for text in ("21/11/2025", "01.05.2027", "1/5/26", "1 MAY 2027", "2027-5-12", "210525"):
        assert not lost_digit(_parsed(text, dt.date(2026, 1, 1), DateKind.EXPIRY)), text

    def read_as(name: str, text: str, date: dt.date) -> VariantRead:
        return VariantRead(name, (), _parsed(text, date, DateKind.EXPIRY))

    whole = read_as("window:contrast", "21/11/2025", dt.date(2025, 11, 21))
    other = [
        read_as("window:dots", "12/11/2024", dt.date(2024, 11, 12)),
        read_as("window:upscale", "12/11/2024", dt.date(2024, 11, 12)),
    ]
    assert winner([*other, whole], short, strict=True) == (whole, 1)
    assert winner(other, short, strict=True) is None
    assert settled([whole], short) and not settled(other, short)
    # Read again as it is by MIN_VOTES reads: the label prints it so, and the reading stops there
    # (the first read's date stays: no read of it votes).
    again = [read_as(f"window:{name}", "1/11/2025", dt.date(2025, 11, 1)) for name in ("dots", "contrast")]
    assert settled(again, short) and not settled(again[:1], short)
    assert winner(again, short, strict=True) is None


def test_what_the_first_read_asks_of_the_second_chance() -> None:
    assert need(None, _never) is Need.DATELESS
    assert need(CUT_YEAR, lambda: True) is Need.DOUBTFUL and need(CUT_PAIR, _never) is Need.DOUBTFUL
    assert need(CUT_YEAR, lambda: False) is Need.NONE
    assert need(_parsed("12 AUG 2027", dt.date(2027, 8, 12), DateKind.UNKNOWN), _never) is Need.NONE


def test_a_date_no_label_plausibly_prints_with_a_number_after_it_is_read_short() -> None:
    # A reference date of 2026-11-30: a label prints 2021-11-29 .. 2036-12-01 (pipeline.dates.years).
    plausible = YearWindow(dt.date(2026, 11, 30)).plausible_range()
    box = BoundingBox(0.0, 0.0, 40.0, 10.0)

    def on(*texts: str) -> tuple[OcrLine, ...]:
        return tuple(OcrLine(text, 0.9, box) for text in texts)

    # "EXP 13052025" read with a space, "EXP 130520 25" (realworld-dev 049 at 1,024 px).
    spaced = _parsed("130520", dt.date(2013, 5, 20), DateKind.EXPIRY)
    lines = on("MF6 13052024", "EXP 130520 25")
    assert (
        read_short(spaced, lines, plausible)
        and need(spaced, _never, lines, plausible=plausible) is Need.DOUBTFUL
    )
    assert need(spaced, _never, lines) is Need.NONE  # no range: no doubt
    # Nothing after it, or a time: an old photo's date read whole (its product long expired).
    old = _parsed("11.10.2019", dt.date(2019, 10, 11), DateKind.UNKNOWN)
    assert not read_short(old, on("11.10.2019"), plausible)
    assert not read_short(old, on("11.10.2019 06:45 T"), plausible)
    assert not read_short(old, on("11.10.2019 LOT 4"), plausible)
    assert read_short(old, on("11.10.2019 4"), plausible)
    # A plausible date with a number after it is a date and a shift code ("271120 14").
    assert not read_short(
        _parsed("271120", dt.date(2027, 11, 20), DateKind.EXPIRY), on("271120 14"), plausible
    )
    for day in plausible:
        assert not read_short(_parsed("x", day, DateKind.EXPIRY), on("x 25"), plausible)
    for day in (plausible[0] - dt.timedelta(days=1), plausible[1] + dt.timedelta(days=1)):
        assert read_short(_parsed("x", day, DateKind.EXPIRY), on("x 25"), plausible)
    # Strict: another date read twice does not replace it; the date read whole does.
    other = [_read("photo:contrast", A), _read("photo:upscale", A)]
    whole = VariantRead(
        "photo:contrast",
        (),
        ParsedDate(dt.date(2025, 5, 13), DateKind.EXPIRY, DatePrecision.DAY, False, 0.9, "EXP 13052025"),
    )
    assert winner(other, spaced) == (other[0], 2)  # not strict: as any doubt
    assert winner(other, spaced, strict=True) is None
    assert winner([*other, whole], spaced, strict=True) == (whole, 1)


def test_a_date_beside_a_line_cut_at_a_date_separator_is_doubtful() -> None:
    # "EXP. 20/06/27" turned 60 degrees, cut by the text detector after "20/" (hard set v4 980180).
    tail = _parsed("06/27", dt.date(2027, 6, 30), DateKind.UNKNOWN, precision=DatePrecision.MONTH)
    box = BoundingBox(0.0, 0.0, 40.0, 10.0)
    cut = (OcrLine("EXP.", 0.9, box), OcrLine("20/", 0.9, box), OcrLine("/06/27", 0.9, box))
    assert cut_date_line(cut) and need(tail, _never, cut) is Need.DOUBTFUL
    # A production date answers while the expiry line's tail stands alone (v5 1000213).
    made = _parsed("24/08/2022", dt.date(2022, 8, 24), DateKind.UNKNOWN)
    assert need(made, _never, (OcrLine("24/08/2022", 0.9, box), OcrLine("/2024", 0.9, box))) is Need.DOUBTFUL
    # Heads and tails: a day and a slash, a day, a month and their separators.
    for piece in ("20/", "21.02.", "/2024", "-06-27", " /06/2027 "):
        assert cut_date_line((OcrLine(piece, 0.9, box),)), piece
    # Whole dates, prices, and what is left of a price or a code are no pieces of a date.
    pieces = ("06/27", "EXP 06/27", "LOT 4/06/27", "59.", "12.50", "04.0-", "-20%", ".50", "2024/")
    pieces += ("-1.99", "-12.50", "4.99-", "10.00-", "1.20.", "3.14.", "-4567", "-12-3456", "/1000", "-1000")
    for text in pieces:
        assert need(tail, _never, (OcrLine(text, 0.9, box),)) is Need.NONE, text
    # A date a keyword names an expiry date is beyond doubt beside any piece.
    named = _parsed("12/05/2027", dt.date(2027, 5, 12), DateKind.EXPIRY)
    assert need(named, _never, cut) is Need.NONE
    # Only the line read whole replaces the doubtful date: its tail read again completes nothing.
    whole = _parsed("20/06/27", dt.date(2027, 6, 20), DateKind.EXPIRY)
    assert completes(whole, tail) and not completes(tail, tail)


def test_a_date_beside_an_unreadable_expiry_date_is_doubtful_and_a_named_one_outranks_it() -> None:
    # "BBF: 17.19.2029" (a 0 read as a 9) beside a production date that lost its keyword (v5 1000414).
    made = _parsed("08.02.2027", dt.date(2027, 2, 8), DateKind.UNKNOWN)
    assert need(made, _never, (), lambda: True) is Need.DOUBTFUL
    assert need(made, _never, (), lambda: False) is Need.NONE
    named = _parsed("12/05/2027", dt.date(2027, 5, 12), DateKind.EXPIRY)
    assert need(named, _never, (), lambda: True) is Need.NONE
    # Read again on four variants, the production date stands with four votes; the expiry date read
    # whole on one variant, with its keyword, wins after such a doubt (and only then).
    again = [VariantRead(f"photo:{name}", (), made) for name in ("contrast", "upscale", "deskew", "turn90")]
    expiry = VariantRead("photo:coder", (), _parsed("17.10.2029", dt.date(2029, 10, 17), DateKind.EXPIRY))
    assert winner([expiry, *again], doubted=made) == (expiry, 1)
    assert winner([expiry, *again]) == (again[0], 4)


def test_after_a_doubtful_read_only_a_date_beyond_doubt_wins() -> None:
    again = [VariantRead("photo:dots", (), CUT_YEAR), VariantRead("photo:contrast", (), CUT_YEAR)]
    whole = _parsed("11 MAY 2025", dt.date(2025, 5, 11), DateKind.UNKNOWN)
    read_whole = [VariantRead("photo:upscale", (), whole), VariantRead("photo:deskew", (), whole)]
    # Read twice, the cut date would stand after a dateless first read; not after a doubtful one.
    assert winner(again) == (again[0], 2)
    assert winner(again, doubted=CUT_YEAR) is None
    assert winner([*again, *read_whole], doubted=CUT_YEAR) == (read_whole[0], 2)
    labelled_pair = VariantRead("window:dots", (), CUT_PAIR)
    assert winner([labelled_pair]) == (labelled_pair, 1)
    assert winner([labelled_pair], doubted=CUT_PAIR) is None


def test_after_a_doubtful_read_its_line_read_whole_wins_over_another_line() -> None:
    # Hard set v2 940213: "MFD 19-07-29" over a dotted "USE BY 06-11-29" first read as "06-11".
    other = _parsed("19-07-29", dt.date(2029, 7, 19), DateKind.UNKNOWN)
    whole = _parsed("06-11-29", dt.date(2029, 11, 6), DateKind.EXPIRY)
    others = [VariantRead("window:dots", (), other), VariantRead("photo:dots", (), other)]
    completed = VariantRead("photo:deskew", (), whole)
    assert completes(whole, CUT_PAIR) and not completes(other, CUT_PAIR)
    # Two votes for another line's date stand, but do not end the reading after a doubtful date...
    assert winner(others, doubted=CUT_PAIR) == (others[0], 2)
    assert not settled(others, doubted=CUT_PAIR) and settled(others)
    # ...and the doubtful line read whole, once, wins over them.
    assert winner([*others, completed], doubted=CUT_PAIR) == (completed, 1)
    assert settled([*others, completed], doubted=CUT_PAIR)
    # Without a doubtful date, votes decide as before.
    assert winner([*others, completed]) == (others[0], 2)


def test_what_completes_a_doubtful_date() -> None:
    def date(text: str) -> ParsedDate:
        return _parsed(text, dt.date(2025, 5, 11), DateKind.UNKNOWN)

    # Case and separators aside, the doubtful text runs on in the whole one.
    assert completes(date("11 may 2025"), CUT_YEAR) and completes(date("11MAY25"), CUT_YEAR)
    assert completes(date("06/11/2029"), CUT_PAIR)
    assert completes(date("14 Apr 2030"), date("14 Apr 20"))
    # A different day, or the same digits out of order, is another date.
    assert not completes(date("12 MAY 2025"), CUT_YEAR) and not completes(date("11-06-29"), CUT_PAIR)
    # A doubtful text with no letter or digit completes nothing.
    assert not completes(date("11 MAY 2025"), date(" - "))


def test_rounds_read_windows_first_and_never_mix_targets() -> None:
    windows = parse_plan("dots,upscale,contrast,turn90,turn270")
    rounds = plan(windows, parse_plan("dots,turn90"), limit=64)

    assert [[planned.name for planned in round_] for round_ in rounds] == [
        ["window:dots", "window:upscale", "window:contrast", "window:turn90"],
        ["window:turn270"],
        ["photo:dots", "photo:turn90"],
    ]
    assert VARIANTS_AT_ONCE == 4
    assert plan((), (), limit=64) == []
    assert {p.target for r in plan((), windows, limit=64) for p in r} == {Target.PHOTO}


def test_text_windows_come_last_and_count_toward_the_limit() -> None:
    windows, photo, text = parse_plan("dots"), parse_plan("contrast"), parse_plan("deskew,contrast")
    assert [[p.name for p in r] for r in plan(windows, photo, limit=8, text=text)] == [
        ["window:dots"],
        ["photo:contrast"],
        ["text:deskew", "text:contrast"],
    ]
    assert [[p.name for p in r] for r in plan(windows, photo, limit=3, text=text)][-1] == ["text:deskew"]


def test_the_limit_cuts_the_plan_in_its_order() -> None:
    windows, photo = parse_plan("dots,upscale,contrast"), parse_plan("dots,turn90")

    assert [[p.name for p in r] for r in plan(windows, photo, limit=4)] == [
        ["window:dots", "window:upscale", "window:contrast"],
        ["photo:dots"],
    ]
    assert [[p.name for p in r] for r in plan(windows, photo, limit=2)] == [["window:dots", "window:upscale"]]
    assert plan(windows, photo, limit=0) == []


def _camera_coded(image: np.ndarray) -> np.ndarray:
    """``image`` as a camera sends it: JPEG-coded (quality 85)."""
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)


def _blank_frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(30, 200, 1280, dtype=np.float64).astype(np.uint8)
    return {
        "grey": np.full((480, 640, 3), 128, np.uint8),
        "black": np.zeros((720, 1280, 3), np.uint8),
        "ramp": np.repeat(np.repeat(ramp[None, :, None], 720, axis=0), 3, axis=2),
        "sensor noise": np.clip(rng.normal(60, 16, (720, 1280, 3)), 0, 255).astype(np.uint8),
    }


@pytest.mark.parametrize("name", list(_blank_frames()))
def test_a_frame_with_nothing_on_it_is_blank(name: str) -> None:
    assert blank(_camera_coded(_blank_frames()[name]))


def _faint_label() -> np.ndarray:
    """A printed line whose ink is 24 levels off its ground: the faintest the contrast variant is for."""
    image = np.full((480, 640, 3), 150, np.uint8)
    cv2.putText(image, "EXP 16/11/2026", (60, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (126, 126, 126), 3)
    return image


def _small_date_on_a_large_frame() -> np.ndarray:
    """A date line 20 px high on an otherwise flat 4,000 x 3,000 photo: 0.2% of it ink."""
    image = np.full((3000, 4000, 3), 190, np.uint8)
    cv2.putText(image, "16/11/2026", (1800, 1500), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (40, 40, 40), 2)
    return image


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(_faint_label(), id="faint"),
        pytest.param(_small_date_on_a_large_frame(), id="small"),
        pytest.param(dot_matrix_label("EXP 16/11/2026", pitch_px=12, dot_radius_px=3).image, id="dots"),
    ],
)
def test_print_is_never_blank_however_faint_small_or_sparse(image: np.ndarray) -> None:
    assert not blank(_camera_coded(image))
