"""The date parser on US labels: month-first numbers under the US market's date phrases, the
coders' MMMDDYY, year-month-day with the month spelt, and plant letters after a best-by date.

The texts are written for these tests after the kinds of label on US groceries (a best-by date
over a lot and a time): none is copied from a photo.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.dates import parse_dates
from pipeline.types import DateKind, DateOrder, DatePrecision

REF = dt.date(2022, 11, 21)

US_LABELS = [
    # Month first under "Best if used by" (the USDA's phrase), "Best by", "Sell by".
    ("BEST IF USED BY 06-03-2024\nS115402-1", "2024-06-03"),
    ("BEST IF USED BY 10/05/22 E 49-70 23:28 17", "2022-10-05"),
    # ... its first word garbled by OCR, as on the curved rim it was printed on (realworld2 009).
    ("2ST IF USED BY 10/05/22 E 49-70 23:28 17", "2022-10-05"),
    ("EST 1F USED BY 10/05/22 E 49-70 23:28 17", "2022-10-05"),  # the I read as a 1
    # ... and with its spaces lost.
    ("BESTIFUSEDBY 06/10/24", "2024-06-10"),
    ("BESTIFUSEDBEFORE 03/04/2024", "2024-03-04"),
    ("BEST IF USED BY 06 10 2024\nD061022 16:48:51", "2024-06-10"),
    ("Best By 04/11/2023", "2023-04-11"),
    ("SELL BY 01/02/23", "2023-01-02"),
    ("BEST IF USED BEFORE 03/04/2024", "2024-03-04"),
    ("USE OR FREEZE BY 12/01/22", "2022-12-01"),
    # A date that reads only day first is read so whatever the phrase.
    ("BEST BY 28/05/2024", "2024-05-28"),
    # MMDDYY without separators, as coders print it; a DDMMYY that cannot be month first.
    ("BEST BY 123123", "2023-12-31"),
    ("BEST IF USED BY 061024\n16:48", "2024-06-10"),
    ("SELL BY 010523 L2", "2023-01-05"),
    ("BEST BY 311223", "2023-12-31"),
    ("BEST BY 12312023", "2023-12-31"),
    ("BEST BY 31122023", "2023-12-31"),
    # A carton's month and day, the year left out ("SELL BY OCT 12", not October 2012).
    ("SELL BY DEC 12", "2022-12-12"),
    # MMMDDYY, glued, with the coder's letters after it.
    ("BEST If Used By\nJAN1323 PS\nRC001:236401 B2", "2023-01-13"),
    ("BB:FEB0223CA\n12:04 EH050521", "2023-02-02"),
    ("EXP OCT1527", "2027-10-15"),
    # A U whose bottom the inkjet left open, read as L and I.
    ("BEST If Used By\n27ALIG2022\nRWQM 11:35 3", "2022-08-27"),
    ("BEST BY JLIN 08 21", "2021-06-08"),
    # A dot-matrix G read as an 8 (as a 6 before).
    ("BEST IF USED BY\nAU8 13 23 1342 K7", "2023-08-13"),
    ("EXP AU6 13 2027", "2027-08-13"),
    # A coder's month glued between day and year that lost a letter (a J's or an S's few dots).
    ("BEST IF USED BY\n20UL2022FM0938", "2022-07-20"),
    ("BBF\n19EP28", "2028-09-19"),
    # Year, month name, day.
    ("BEST BY 2023-MAR-15\n6641LB 1242 0642", "2023-03-15"),
    ("2024 JUL 09", "2024-07-09"),
    ("2023MAR15", "2023-03-15"),
    # A plant or line letter after the date does not make it a production date under a phrase.
    ("BEST IF USED BY\n20JUL2022 F M 0938", "2022-07-20"),
    # ... glued to a two-digit year: a letter OCR also reads as a digit (S, B, O, I) is no third
    # digit of the year (realworld2 010: "USED BY MAR 07 23S").
    ("USED BY MAR 07 23S", "2023-03-07"),
    ("EXP 07 MAR 24S", "2024-03-07"),
    ("BEST BY 10/05/22B", "2022-10-05"),
    ("EXP 12.05.23O", "2023-05-12"),
    # ... and to a four-digit one: as a fifth digit it left "SEP 17", September 2017.
    ("BEST IF USED BY SEP 17 2028B", "2028-09-17"),
    ("USE BY NOV 24 2028S", "2028-11-24"),
    ("EXP 17SEP2028B", "2028-09-17"),
    # The UK's and the EU's phrases stay day first, and so does a label with no phrase (the
    # configured default).
    ("BEST BEFORE 06-03-2024", "2024-03-06"),
    ("BEST BEFORE 010523", "2023-05-01"),
    ("USE BY 10/05/22", "2022-05-10"),
    ("DISPLAY UNTIL 06 10 2024", "2024-10-06"),
    ("06/03/2024", "2024-03-06"),
]


@pytest.mark.parametrize(("text", "expected"), US_LABELS)
def test_us_and_other_labels(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None, text
    assert (best.date.isoformat(), best.precision) == (expected, DatePrecision.DAY), text


def test_the_caller_and_a_legend_outrank_the_phrase() -> None:
    assert parse_dates("BEST BY 06/03/2024", REF, DateOrder.DMY).best.date == dt.date(2024, 3, 6)  # type: ignore[union-attr]
    legend = parse_dates("BEST BY (DD/MM/YYYY)\n06/03/2024", REF).best
    assert legend is not None and legend.date == dt.date(2024, 3, 6)


def test_four_digits_after_a_month_that_read_as_a_year_are_its_year() -> None:
    # JAN2027 is as likely 20 January 2027 as January 2027: the month, as before, not a guessed day.
    found = parse_dates("JAN2027", REF).best
    assert found is not None and found.precision is DatePrecision.MONTH and found.date == dt.date(2027, 1, 31)
    # A two-digit year glued after a one-digit day is no MMMDDYY ("MAR526"): no date is made up.
    assert parse_dates("MAR526", REF).best is None
    # A word that holds a month read with L and I for its U is no month ("ALIGN 2022").
    assert parse_dates("ALIGN 2022", REF).best is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A glued month and four digits is a date only right after its expiry keyword: unlabelled,
        # or with a code between, it is a style or batch code, and never outranks a real date.
        ("05.06.2027\nSET1530", "2027-06-05"),
        ("12.05.2027 23:10\nLOT NOV1230", "2027-05-12"),
        ("15/06/2027 L2\nJAN1330", "2027-06-15"),
        ("Best before: see side\nCODE: MAR2526 A", None),
        ("Style No. JUN1530", None),
        # A US phrase labels only the numeric date right after it, and never a dotted one.
        ("EXP 05/06/2027\nEnjoy it at its best by storing in a cool dry place", "2027-06-05"),
        ("Rated best by Which?\nBest before 05.06.27", "2027-06-05"),
        ("Best by nature\nEXP 05/06/2027", "2027-06-05"),
        ("BEST BEFORE: SEE BASE\nSELL BY: SEE BASE\n05/06/27 L23", "2027-06-05"),
        ("Best by: 12.06.2027", "2027-06-12"),
        ("Mindestens haltbar bis / Best by: 05.06.2027", "2027-06-05"),
        # Year, month name, day: a year 20xx, no letter or year after the day.
        ("BEST BEFORE 2517 NOV 28", "2028-11"),
        ("LOT 2026 MAR 15 2027", "2027-03-15"),
        ("BEST BY 2031 MAR 15 2027", "2027-03-15"),
        ("12.05.2027\n2029 JUL 1A", "2027-05-12"),
    ],
)
def test_what_the_us_rules_leave_alone(text: str, expected: str | None) -> None:
    # Found by a review that tried to break these rules with labels of other markets.
    best = parse_dates(text, REF).best
    if expected is None:
        assert best is None or best.kind is DateKind.MANUFACTURE, (text, best)
        return
    assert best is not None, text
    assert best.date.isoformat()[: len(expected)] == expected, (text, best)


def test_a_lone_letter_that_ends_its_line_tags_the_date_before_it() -> None:
    # "EXP 12/03/2026 F": the F date of a "V ... F" pair whose V date was lost, not an expiry.
    for text in ("EXP 12/03/2026 F", "BEST BEFORE 12/03/2026 P"):
        best = parse_dates(text, REF).best
        assert best is None or best.kind is DateKind.MANUFACTURE, (text, best)


def test_a_lone_letter_after_a_date_still_labels_it_without_a_word() -> None:
    result = parse_dates("12/2027 V 01/2025 F", REF)
    kinds = {c.date.isoformat(): c.kind for c in result.candidates}
    assert kinds == {"2027-12-31": DateKind.EXPIRY, "2025-01-31": DateKind.MANUFACTURE}


def test_a_month_that_lost_a_letter_is_read_only_glued_under_a_keyword() -> None:
    # Two letters left of two months (JU: JUN or JUL) are no month; nor two letters in a code on a
    # label with no keyword, nor with a space between them and the day.
    assert parse_dates("BB 02JU27", REF).best is None
    # Only a J or an S is lost so (the thinnest first letters): "DE", "CT", "NO" stay letters, and
    # an O read as a zero keeps its month ("50CT27" is 5 OCT 27, not a day 50 of a month "CT").
    assert parse_dates("EXP 12NO2027", REF).best is None
    for text, day in (("EXP: 50CT27", 5), ("EXP 10CT2027", 1), ("MFG 05SEP2026\nEXP: 40CT2027", 4)):
        found = parse_dates(text, REF).best
        assert found is not None and (found.date.month, found.date.day) == (10, day), text
    assert parse_dates("19EP28", REF).best is None
    assert parse_dates("EXP 19 EP 28", REF).best is None
    # A lot code's letters are the lot's.
    assert parse_dates("LOT 12AN34", REF).best is None
