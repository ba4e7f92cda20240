# ruff: noqa: RUF001  (words of other scripts are meant, not look-alikes)
"""A shelf life printed beside the production date gives the expiry date (pipeline/dates/shelf_life.py)."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest

from pipeline import Pipeline, ProcessOptions
from pipeline.dates import parse_dates
from pipeline.dates.normalize import normalize
from pipeline.dates.shelf_life import ShelfLife, Unit, expires, find_shelf_life
from pipeline.types import DateKind, DatePrecision

REF = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # India and Pakistan (FSSAI): the packing date and a shelf life from it.
        ("PKD: 12 JAN 2026\nBest before 9 months from packaging", "2026-10-12"),
        ("MFG. DATE: 03/2026\nBEST BEFORE 12 MONTHS FROM MANUFACTURE", "2027-03-31"),
        ("Mfd: 15/04/2026 Best Before: Six Months From Mfg.", "2026-10-15"),
        ("USE WITHIN 6 MONTHS OF MANUFACTURE\nMFG 05/08/2026", "2027-02-05"),
        ("Packed on 20.06.2026 | Best before 180 days from packing", "2026-12-17"),
        # China (GB 7718), in digits and in Chinese numerals.
        ("生产日期：2026-05-12\n保质期：12个月", "2027-05-12"),
        ("生产日期 20260512 保质期十八个月", "2027-11-12"),
        ("生产日期：2026.10.01 保质期：180天", "2027-03-30"),
        # Korea, Russia, Vietnam, Turkey, Brazil, Spain, the Arab world.
        ("제조일자 2026.03.15 유통기한 제조일로부터 12개월", "2027-03-15"),
        ("Дата изготовления 15.03.2026 Срок годности 12 мес.", "2027-03-15"),
        ("NSX: 01/02/2026 HSD: 24 tháng kể từ NSX", "2028-02-01"),
        ("Üretim tarihi: 10.01.2026 TETT: Üretim tarihinden itibaren 24 ay", "2028-01-10"),
        ("FAB: 10/03/2026 VALIDADE: 12 MESES", "2027-03-10"),
        ("FAB 10/03/2026 VAL: 6 MESES", "2026-09-10"),
        (
            "Consumir antes de 12 meses de la fecha de fabricación. Fecha de fabricación: 01/06/2026",
            "2027-06-01",
        ),
        ("تاريخ الإنتاج: 2026/01/20 صالح لمدة 12 شهر من تاريخ الإنتاج", "2027-01-20"),
        # The production date printed unlabelled (its keyword in another script, or lost), where
        # the phrase says the time counts from production.
        ("Best before 2 years from manufacture\n01.09.2026", "2028-09-01"),
        ("2026-05-12 保质期:12个月", "2027-05-12"),
        # An opened pack's time in the next sentence, or "unopened", is no obstacle (a review).
        ("PKD 20/10/2026\nBest before 12 months from packaging\nUse within 1 month of opening", "2027-10-20"),
        ("MFG 05/2026\nBest before 24 months from mfg. Once opened use within 6 weeks.", "2028-05-31"),
        ("生产日期:2026-05-12 保质期:12个月 贮存条件:常温、阴凉干燥处,开封后请尽快食用", "2027-05-12"),
        ("生产日期 2026-05-12 未开封保质期18个月", "2027-11-12"),
        ("生产日期:2026.05.12\n保质期:12个月 开封后请冷藏并尽快食用", "2027-05-12"),
        ("MFG 01/03/2026 Shelf life (unopened): 24 months", "2028-03-01"),
        # A storage condition between the term and the time; Taiwan's and Japan's phrasings.
        ("生产日期 2026-05-12 保质期：0-4℃冷藏21天", "2026-06-02"),
        ("生产日期 2026-05-12 保质期：阴凉干燥处保存12个月", "2027-05-12"),
        ("製造日期 2026.05.12 保存期限：12個月", "2027-05-12"),
        ("製造日 2026.05.12 製造日より12ヶ月", "2027-05-12"),
        ("Data di produzione 12/05/2026 da consumarsi entro 12 mesi dalla data di produzione", "2027-05-12"),
        ("MFG 12/05/2026 BESTBEFORE 12 MONTHS", "2027-05-12"),
        # The time before its term (a review).
        ("MFG 05/2026 12 MONTHS SHELF LIFE", "2027-05-31"),
        ("FAB 10/03/2026 18 MESES DE VALIDADE", "2027-09-10"),
    ],
)
def test_a_shelf_life_from_the_production_date_is_the_expiry_date(text: str, expected: str) -> None:
    result = parse_dates(text, REF)
    assert result.best is not None, text
    assert result.best.date.isoformat() == expected
    assert result.best.kind is DateKind.EXPIRY
    # Its text is the shelf life as printed, a span of the caller's text.
    assert result.best.text in text and result.best in result.candidates


def test_a_month_production_date_gives_a_month_expiry_date() -> None:
    result = parse_dates("MFG: 08/2026\nBEST BEFORE 18 MONTHS FROM MFG", REF)
    assert result.best is not None
    assert (result.best.date, result.best.precision) == (dt.date(2028, 2, 29), DatePrecision.MONTH)
    # Days after a month give no day.
    assert parse_dates("MFG: 08/2026\nBEST BEFORE 90 DAYS FROM MFG", REF).best is None


@pytest.mark.parametrize(
    "text",
    [
        # Kept once opened, not from production.
        "Once opened use within 3 days\n12/05/2026",
        "Best before 3 days after opening 12/05/2026",
        "MFG 12/05/2026\nConsume within 2 months of purchase",
        "开封后保质期：30天 生产日期 2026-05-12",
        # "Use within" alone is an opened pack's.
        "MFG 12/05/2026\nUSE WITHIN 6 MONTHS",
        # Two shelf lives (a multipack): which is whose is not known.
        "生产日期 2026-05-12 保质期：12个月 保质期：6个月",
        # An offer or a warranty is valid, not a shelf life.
        "Offer valid for 30 days\nMFG 20/11/2026",
        "PKD 01/2026\nValid for 12 months warranty",
        "MFG 10/2026\nGUARANTEE VALID FOR 24 MONTHS FROM MANUFACTURE",
        # An opening word right before the term, or in its clause after a Chinese space.
        "开封后 保质期：30天 生产日期 2026-05-12",
    ],
)
def test_no_shelf_life_is_read_where_the_label_gives_none(text: str) -> None:
    result = parse_dates(text, REF)
    assert all("MONTH" not in c.text.upper() and "天" not in c.text for c in result.candidates), text
    assert all(c.kind is not DateKind.EXPIRY for c in result.candidates)


def test_a_printed_expiry_date_wins_over_a_shelf_life() -> None:
    result = parse_dates("MFG 01/02/2026 EXP 01/12/2026\nBest before 12 months from manufacture", REF)
    assert result.best is not None and result.best.date == dt.date(2026, 12, 1)
    assert result.best.text == "01/12/2026"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A later printed date is the expiry date printed, whatever the shelf life says.
        ("MFG 15/01/2026\nBest before 12 months from manufacture\n20/01/2027", "2027-01-20"),
        ("15/01/2026\n20/01/2027\nShelf life 12 months", "2027-01-20"),
        # An unlabelled date beside a shelf life that does not say "from production" may be the
        # expiry date whose keyword OCR lost: it stays the answer.
        ("Shelf life 18 months\n12.05.2026", "2026-05-12"),
    ],
)
def test_a_printed_date_that_may_be_the_expiry_date_is_not_moved(text: str, expected: str) -> None:
    result = parse_dates(text, REF)
    assert result.best is not None and result.best.date.isoformat() == expected
    assert "MONTH" not in result.best.text.upper()


def test_a_production_date_later_in_the_reference_month_is_no_production_date() -> None:
    result = parse_dates("MFG 25/11/2026\nBest before 12 months from mfg", dt.date(2026, 11, 10))
    assert result.best is None


def test_a_shelf_life_date_is_surer_from_a_labelled_production_date() -> None:
    labelled = parse_dates("MFG 05/06/2026\nBest before 12 months from mfg", REF).best
    unlabelled = parse_dates("05/06/2026\nBest before 12 months from mfg", REF).best
    assert labelled is not None and unlabelled is not None and labelled.date == unlabelled.date
    assert labelled.confidence > unlabelled.confidence


def test_a_date_after_the_reference_date_is_no_production_date() -> None:
    # The expiry date itself beside the shelf life's words (its keyword lost): not moved on.
    result = parse_dates("BEST BEFORE 6 MONTHS FROM MFG\n12/05/2027", REF)
    assert [c.date for c in result.candidates] == [dt.date(2027, 5, 12)]


def test_two_production_dates_give_no_shelf_life_date() -> None:
    result = parse_dates("MFG 01/02/2026\nMFG 01/03/2026\nBest before 12 months from mfg", REF)
    assert result.best is None


def test_a_month_shorter_than_the_day_ends_the_shelf_life_on_its_last_day() -> None:
    life = ShelfLife(1, Unit.MONTH, 0, 0)
    assert expires(dt.date(2027, 1, 31), DatePrecision.DAY, life) == dt.date(2027, 2, 28)
    assert expires(dt.date(2028, 2, 29), DatePrecision.DAY, ShelfLife(1, Unit.YEAR, 0, 0)) == dt.date(
        2029, 2, 28
    )
    assert expires(dt.date(2026, 1, 1), DatePrecision.DAY, ShelfLife(2, Unit.WEEK, 0, 0)) == dt.date(
        2026, 1, 15
    )


@pytest.mark.parametrize(
    "text",
    [
        "EXP 12 MAY 2027",
        "保质期至 2027-05-12",
        "BEST BEFORE 12 DEC 2026",
        "Shelf life 200 years",
        "保质期：2027年",
    ],
)
def test_dates_and_impossible_times_are_no_shelf_life(text: str) -> None:
    assert find_shelf_life(normalize(text)) is None


@pytest.mark.slow
def test_the_pipeline_reads_a_shelf_life_printed_apart_from_its_packing_date(real_pipeline: Pipeline) -> None:
    # An Indian pack (FSSAI): the shelf life in the artwork, the packing date by the coder, apart.
    image = np.full((700, 1000, 3), 235, np.uint8)
    for text, y, scale, thickness in (
        ("MASALA NOODLES", 120, 2.0, 4),
        ("Net wt 70 g   MRP Rs 14.00", 220, 1.1, 2),
        ("BEST BEFORE 9 MONTHS FROM PACKAGING", 330, 1.1, 2),
        ("PKD: 12/01/2026", 470, 1.6, 3),
        ("BATCH NO. B2341", 560, 1.2, 2),
    ):
        cv2.putText(image, text, (60, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), thickness)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    result = real_pipeline.process(encoded.tobytes(), ProcessOptions(reference_date=REF))
    best = result.best_date
    assert best is not None and best.date == dt.date(2026, 10, 12) and best.kind is DateKind.EXPIRY
    assert best.text.upper().startswith("BEST BEFORE 9 MONTHS")
    assert best.is_expired
