"""The date parser on what OCR makes of real labels: the failure families of the real-photo bench.

Each family is a table of label texts written for these tests (never copied from the photos, which
are validation only), as OCR returns them: Thai keywords lost or read as Latin garbage, a stray
ideograph, separators changed, columns run together, lines out of order. Each case also runs as its
OCR-noise variants: a 0 inside the digits read as O, a 1 read as I, a garbage line around it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pipeline.dates import parse_dates
from pipeline.types import DateKind, DatePrecision

REF = dt.date(2026, 11, 30)

# Year first or year last, decided by the label's dates: a stray ideograph (a brand, a Thai glyph
# read as one) does not make a DDMMYY label year first when that puts its dates years in the past;
# a day-first default gives way where it reads no date at all (270305: its year would be 2005).
ORDER = [
    ("软糖\nMFG150925\nEXP150926 K", "2026-09-15"),
    ("品 ansu\nEXP 200827N", "2027-08-20"),
    ("焙煎\nMFG:120525\nBBE:\n120526B", "2026-05-12"),
    ("口 ansu\n041125\nnsuau\n091126", "2026-11-09"),
    ("抹茶 MATCHA\nEXP 21/03/27", "2027-03-21"),
    ("MFG130526A EXP130527B 乳", "2027-05-13"),
    ("L6 EXP 050327D 茶", "2027-03-05"),
    ("大豆\nBB 181027", "2027-10-18"),
    ("MFD 010326 EXP 010327 辣", "2027-03-01"),
    ("EXP 09/08/26 辣椒", "2026-08-09"),
    ("กะทิ 椰\nEXP 110427", "2027-04-11"),
    ("EXP 270305", "2027-03-05"),
    ("BEST BEFORE 280109", "2028-01-09"),
    ("EXP 271008 L2", "2027-10-08"),
    ("MFG 260407\nEXP 270407", "2027-04-07"),
    # Year-first labels whose dates are plausible year first stay year first.
    ("유통기한 27.01.15", "2027-01-15"),
    ("제조 25.11.26 유통기한 26.11.25", "2026-11-25"),
    ("保质期至 270301", "2027-03-01"),
]

# Separators as OCR reads them: another one, doubled, a space beside one, a letter O in the year.
MIXED_SEPARATORS = [
    ("EXP 14-09.2027", "2027-09-14"),
    ("BB 23/10-27 L4", "2027-10-23"),
    ("USE BY 08..11.2027", "2027-11-08"),
    ("EXP 19 /04/ 27", "2027-04-19"),
    ("BBE 05/06/2O27", "2027-06-05"),
    ("MFG 03.02-26\nEXP 03.02-28", "2028-02-03"),
    ("EXP:25-12/2027", "2027-12-25"),
    ("BEST BEFORE 30.09/27 K1", "2027-09-30"),
    ("EXP 11 .03. 2028", "2028-03-11"),
    ("MFD 04/05.2026 EXP 04/05.2027", "2027-05-04"),
    ("BBF 17-01..2027", "2027-01-17"),
    ("EXP 28/02-27H3", "2027-02-28"),
    ("PROD 10.10-25\nBBE 10.10-27", "2027-10-10"),
    ("EXP 06\\11.2027", "2027-11-06"),
    ("USE BY 21.08 /2027", "2027-08-21"),
    ("EXP 15/06.26 0842", "2026-06-15"),
]

# A colon (or the keyword's last letter) that OCR read as a 1, glued to a separated date: no date
# opens with a three-digit field, so "EXP124/03/2027" is EXP:24/03/2027.
COLON_AS_ONE = [
    ("EXP124/03/2027", "2027-03-24"),
    ("MFG115/02/2026\nEXP115/02/2028", "2028-02-15"),
    ("BBE109.10.2027", "2027-10-09"),
    ("EXF130/06.2027", "2027-06-30"),
    ("MFG121/01/2026\nXPR122/01/2027", "2027-01-22"),
    ("BB117/11/27", "2027-11-17"),
    ("USEBY105.05.2027", "2027-05-05"),
    ("EXPIRY131/12/2027", "2027-12-31"),
    ("BBF102-04-2028", "2028-04-02"),
    ("EXP128/02/27 L5", "2027-02-28"),
    ("VAL116/08/2027", "2027-08-16"),
    ("MFD110/10/2025 BBD110/10/2027", "2027-10-10"),
    ("EXP119.01.2028", "2028-01-19"),
    ("BEST BEFORE107/07/2027", "2027-07-07"),
    ("CAD112/12/2027", "2027-12-12"),
]

# A compact date whose keyword was lost or read as garbage: a candidate of its own, unlabelled,
# never over a keyworded date; barcodes, phone numbers and long codes are no dates.
BARE_COMPACT = [
    ("nsuuau\n071125\nansuanau\n070527", "2027-05-07"),
    ("060327D", "2027-03-06"),
    ("uaauo 120925S\nnnsu 120327D", "2027-03-12"),
    ("lvouAa\n180427", "2027-04-18"),
    ("EXP 150527\n040827", "2027-05-15"),
    ("8858702144723\n101127", "2027-11-10"),
    ("ns:(66)2-148-9977\n230627", "2027-06-23"),
    ("wan 250926P\nuasnu 250327", "2027-03-25"),
    ("JUakuzn.\n01062027", "2027-06-01"),
    ("nsu 14022028", "2028-02-14"),
    ("1-1-11526-6-0136\n300427", "2027-04-30"),
    ("ansu 111125\nansu 110527", "2027-05-11"),
    ("HOTLINE 1234\n020227 K", "2027-02-02"),
    ("onsu\n28112026", "2026-11-28"),
    ("(nau\n190727 A3", "2027-07-19"),
    ("FLAVORED 90G\n050228", "2028-02-05"),
]

# Two columns run together on one OCR line, or their headers on one line over both dates.
GLUED_COLUMNS = [
    ("MFG:11032026EXP:11032028", "2028-03-11"),
    ("ผลิต/MFD15.04.26ควรบริโภคก่อน/BBF15.04.27", "2027-04-15"),
    ("MFD EXP\n09.09.25 09.09.27", "2027-09-09"),
    ("ผลิต หมดอายุ\n120226 120227", "2027-02-12"),
    ("20/05/20270815", "2027-05-20"),
    ("MFG 02/03/202602/03/2028", "2028-03-02"),
    ("EXP 14/07/20271132", "2027-07-14"),
    ("PRO 05.05.202605.11.2027", "2027-11-05"),
    ("MFG03-03-2026EXP03-03-2027", "2027-03-03"),
    ("MFD 18/09/2025BBE 18/09/2027", "2027-09-18"),
    ("PROD. DATE EXP. DATE\n21.01.2026 21.01.2028", "2028-01-21"),
    ("MFG010526EXP010528", "2028-05-01"),
    ("วันผลิต/MFG 07.07.26 วันหมดอายุ/EXP 07.07.28", "2028-07-07"),
    ("22/12/20261405\nL2", "2026-12-22"),
    ("BB 30/06/202730/06/2025", "2027-06-30"),
    ("MFG 16/10/202516/10/2027", "2027-10-16"),
]

# A manufacture keyword on a line above reaches a date later than every unlabelled one, and no
# expiry keyword is printed, or a header's manufacture column is later than its expiry column:
# OCR put the lines out of order, and the later date is the expiry. On the date's own line, an
# expiry keyword still wins.
STRAY_MANUFACTURE = [
    ("ผลิต/MFD\n12.03.27\n12.03.26", "2027-03-12"),
    ("MFG\n01/02/2028\n01/02/2026", "2028-02-01"),
    ("MFD.\n150728\n150726", "2028-07-15"),
    ("PROD\n05.05.27\n0348B\n05.05.26", "2027-05-05"),
    ("WOA/MFD\n20-10-2027\n20-10-2026", "2027-10-20"),
    ("MFD\n10.01.26\n10.01.27", "2027-01-10"),
    ("MFD 10.01.27\nEXP 10.01.28", "2028-01-10"),
    ("MFG\n03.03.28\nEXP 03.03.27", "2027-03-03"),
    ("FAB\n14/02/2028\n14/02/2026", "2028-02-14"),
    ("NSX\n09/09/27\n09/09/25", "2027-09-09"),
    ("MFD.\n25 08 2027\n25 08 2025", "2027-08-25"),
    ("ผลิต\n010428\n010426", "2028-04-01"),
    ("Packed on\n02.02.27\n02.02.26", "2027-02-02"),
    ("MFG DATE\n31/12/2027\n31/12/2025", "2027-12-31"),
    ("PKD\n11/11/27 A\n11/11/26 B", "2027-11-11"),
    ("PRODUCTION DATE:\n08.08.2028\nL2231\n08.08.2026", "2028-08-08"),
    # A header of both keywords over the two dates, the columns read in the other order.
    ("WOA/MFD\nnsuau BBF\n14.02.27\n14.02.26", "2027-02-14"),
    ("MFG EXP\n03/03/2028 03/03/2026", "2028-03-03"),
    ("ผลิต/MFD ควรบริโภคก่อน/BBE\n220528\n220526", "2028-05-22"),
    # On one line the keyword is its date's: the expiry keyword still wins.
    ("MFD 10.01.28 EXP 10.01.27", "2027-01-10"),
]

# Dot-matrix separators are two or three dots, which the printer or the OCR drops: one of a
# date's two separators lost, on a label whose keyword says a date is printed.
LOST_SEPARATOR = [
    ("BB\n0508.2026", "2026-08-05"),
    ("EXP 1203.2027", "2027-03-12"),
    ("BBE: 2107/2027", "2027-07-21"),
    ("USE BY 0911-2027", "2027-11-09"),
    ("EXP 14.062027", "2027-06-14"),
    ("BB 3/112027", "2027-11-03"),
    ("BEST BEFORE 28-022028", "2028-02-28"),
    ("MFD 0105.2026\nEXP 0105.2028", "2028-05-01"),
    ("MFG 10.032026\nEXP 10.032028", "2028-03-10"),
    ("EXP 1508.2570", "2027-08-15"),
    ("หมดอายุ 0104.2570", "2027-04-01"),
    ("BBF\n2512.2027 L4", "2027-12-25"),
    ("EXP: 1906/2027 13:58", "2027-06-19"),
    ("VAL 0207.2027", "2027-07-02"),
    ("EXP 30.092027 A2", "2027-09-30"),
]

# A dot-matrix or inkjet zero missing a dot or two of its ring, read as a C between digits.
OPEN_ZERO = [
    ("BBF:01-07-2C27", "2027-07-01"),
    ("PROD:01-07-2025\nBBF:01-07-2C27", "2027-07-01"),
    ("EXP 15/C3/2027", "2027-03-15"),
    ("USE BY 30.11.2C27", "2027-11-30"),
    ("BEST BEFORE 12.10.2C27", "2027-10-12"),
    ("EXP 2C27-05-19", "2027-05-19"),
    ("BB 21.C6.27", "2027-06-21"),
    ("EXP 10/10/2C28", "2028-10-10"),
    ("VAL 05-C8-2027", "2027-08-05"),
    ("MFG 01.02.2C26\nEXP 01.02.2C28", "2028-02-01"),
    ("BBE 20.09.2C27", "2027-09-20"),
    ("EXP 1C0527", "2027-05-10"),
    ("USE BY 17/12/2C27", "2027-12-17"),
    ("EXP 2027.C4.30", "2027-04-30"),
    ("CONSUMIR ANTES DE 09/10/2C27", "2027-10-09"),
]
# A coder's shift or line code printed after a six-digit date, the space between lost by OCR.
GLUED_SUFFIX = [
    ("BEST BEFORE:DDMMYY\n1408261D", "2026-08-14"),
    ("BEST BEFORE:DOMMYY\n1408261D", "2026-08-14"),
    ("EXP 0503272A", "2027-03-05"),
    ("BB\n3012271K", "2027-12-30"),
    ("USE BY 1107271L", "2027-07-11"),
    ("EXP: 2809272C", "2027-09-28"),
    ("BBE 0102283K", "2028-02-01"),
    ("MFD 0102261A\nEXP 0102281A", "2028-02-01"),
    ("BEST BEFORE\n2206279X", "2027-06-22"),
    ("EXP 1510274D", "2027-10-15"),
    ("VAL 0904272E", "2027-04-09"),
    ("BB 3101281F", "2028-01-31"),
    ("EXP 2511272G 14:05", "2027-11-25"),
    ("USE BY: 0808275H", "2027-08-08"),
    ("HSD 1912271K", "2027-12-19"),
]

# Separators that OCR spaced out or half lost: the second dot read as a space, spaces round them.
SPACED_SEPARATORS = [
    ("09.06.2023\n09.07 2023", "2023-07-09"),
    ("23 08 .2022", "2022-08-23"),
    ("EXP 15 - 03 . 2027", "2027-03-15"),
    ("BB 12. 05 2027", "2027-05-12"),
    ("USE BY 01 /02 2028", "2028-02-01"),
    ("EXP 30-11 2026", "2026-11-30"),
    ("BEST BEFORE 28 02 .2027", "2027-02-28"),
    ("17 .09 .2027", "2027-09-17"),
    ("MFD 01.01 2026\nEXP 01.01 2028", "2028-01-01"),
    ("VAL 05 06 -2027", "2027-06-05"),
    ("11/12/2026\n11/ 12 2027", "2027-12-11"),
    ("CONSUMIR ANTES DE 20 . 10 2027", "2027-10-20"),
    ("หมดอายุ 14.02 2570", "2027-02-14"),
    ("BBE 31 - 12 2026", "2026-12-31"),
    ("06 07 /2027", "2027-07-06"),
]
# A two-digit year with the next column's first digit glued on ("11/08/24 4-11K" read
# "11/08/244-11K"), and a letter of another script before the day read as a Latin one that OCR
# would make a digit ("ГОДЕН ДО 28.09.23" read "(K>B28.09.23").
GLUED_NEIGHBOURS = [
    ("11/05/2312:291\n11/08/244-11K", "2024-08-11"),
    ("EXP 11/08/244-11K", "2024-08-11"),
    ("BB 05.03.271-L2", "2027-03-05"),
    ("USE BY 30-06-285A", "2028-06-30"),
    ("12.12.279A 14:02", "2027-12-12"),
    ("01:5101.05.23\n(K>B28.09.23", "2023-09-28"),
    ("(K>B28.09.27", "2027-09-28"),
    (">S12/05/27", "2027-05-12"),
    ("*B30.01.2028", "2028-01-30"),
    ("(O15.08.27)", "2027-08-15"),
    ("EXP >Z21.03.27", "2027-03-21"),
    ("<I11.11.2027", "2027-11-11"),
    ("BEST BEFORE 07/07/273/B", "2027-07-07"),
    ("EXP 19.10.266/LOT 4", "2026-10-19"),
    ("VAL 22-09-288K", "2028-09-22"),
]

FAMILIES = {
    "order": ORDER,
    "mixed_separators": MIXED_SEPARATORS,
    "colon_as_one": COLON_AS_ONE,
    "bare_compact": BARE_COMPACT,
    "glued_columns": GLUED_COLUMNS,
    "stray_manufacture": STRAY_MANUFACTURE,
    "lost_separator": LOST_SEPARATOR,
    "open_zero": OPEN_ZERO,
    "glued_suffix": GLUED_SUFFIX,
    "spaced_separators": SPACED_SEPARATORS,
    "glued_neighbours": GLUED_NEIGHBOURS,
}

_INNER_ZERO = re.compile(r"(?<=\d)0(?=\d)")
_INNER_ONE = re.compile(r"(?<=\d)1(?=\d)")


def _best_date(text: str) -> str | None:
    """The date the parser chooses in ``text``, ISO, or None."""
    best = parse_dates(text, REF).best
    return None if best is None else best.date.isoformat()


def _variants(text: str) -> list[tuple[str, str]]:
    """O for a 0 and I for a 1 between digits, a garbage line before and after."""
    variants = [
        ("O_for_0", _INNER_ZERO.sub("O", text, count=1)),
        ("I_for_1", _INNER_ONE.sub("I", text, count=1)),
        ("garbage_before", f"uaunsu nSu\n{text}"),
        ("garbage_after", f"{text}\nAnUn& wanuuasn"),
    ]
    return [(name, variant) for name, variant in variants if variant != text]


def _params() -> list[object]:
    params = []
    for family, cases in FAMILIES.items():
        for index, (text, expected) in enumerate(cases):
            params.append(pytest.param(text, expected, id=f"{family}-{index}"))
            for name, variant in _variants(text):
                params.append(pytest.param(variant, expected, id=f"{family}-{index}-{name}"))
    return params


@pytest.mark.parametrize(("text", "expected"), _params())
def test_ocr_noise_labels(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None, text
    assert (best.date.isoformat(), best.precision) == (expected, DatePrecision.DAY), text


def test_every_family_has_15_cases() -> None:
    assert all(len(cases) >= 15 for cases in FAMILIES.values())


def test_a_keyworded_date_beats_a_later_bare_one() -> None:
    result = parse_dates("BBE 120527\nnsuau 300128", REF)
    assert result.best is not None and result.best.date == dt.date(2027, 5, 12)
    assert result.best.kind is DateKind.EXPIRY


def test_a_date_read_against_the_default_order_is_less_certain() -> None:
    against = parse_dates("EXP 270305", REF).best
    default = parse_dates("EXP 050327", REF).best
    assert against is not None and default is not None
    assert against.date == default.date and against.confidence < default.confidence


def test_the_callers_order_is_never_overruled() -> None:
    best = parse_dates("品\nEXP 200826", REF, "YMD").best
    assert best is not None and best.date == dt.date(2020, 8, 26)


def test_a_printed_legend_is_never_overruled() -> None:
    best = parse_dates("EXP (YY/MM/DD) 20/08/26", REF).best
    assert best is not None and best.date == dt.date(2020, 8, 26)


def test_a_space_alone_then_a_separator_with_no_space_is_a_number_and_a_month() -> None:
    # "07 03/2027": a count or code, then 03/2027; only " ." (a space before the separator) is
    # read as a spaced-out separator after a space ("23 08 .2022").
    best = parse_dates("07 03/2027 L4", REF).best
    assert best is not None and (best.date, best.precision) == (dt.date(2027, 3, 31), DatePrecision.MONTH)


def test_a_postal_code_does_not_beat_the_printed_expiry() -> None:
    best = parse_dates("23.10.23\nXoxland Russland MChJ, Rossiya, 140126, Moskva", REF).best
    assert best is not None and best.date == dt.date(2023, 10, 23)
    # Under its keyword a compact date between commas is a date all the same.
    labelled = parse_dates("EXP, 140126, L2", REF).best
    assert labelled is not None and labelled.date == dt.date(2026, 1, 14)


def test_a_glued_digit_that_ends_the_token_makes_no_day_date() -> None:
    # "Tel 03-12-345": no 2034-12-03; the glued-column shape needs the next column to go on.
    best = parse_dates("Tel 03-12-345", REF).best
    assert best is None or best.precision is not DatePrecision.DAY


def test_a_legend_whose_day_field_ocr_misread_still_gives_the_order() -> None:
    # "DOMMYY" is DDMMYY with one D read as an O: the legend still overrules an MDY default.
    for legend in ("DDMMYY", "DOMMYY", "ODMMYY"):
        best = parse_dates(f"BEST BEFORE:{legend}\n05/08/27", REF, default_order="MDY").best
        assert best is not None and best.date == dt.date(2027, 8, 5), legend


@pytest.mark.parametrize(
    "text",
    [
        "BB.12.05.2027",
        "BB/12/05/27",
        "BB.12/05/27",
        "BB.12.05.27 P.12.11.26",
        "S.K.T: 12.05.2027",
        "EXP IZ/MAY/2027",  # and a day before a month's name is a day ("IZ" 12)
    ],
)
def test_a_keyword_of_look_alike_letters_before_a_separator_stays_a_keyword(text: str) -> None:
    # BB as 88 is no day, S.K.T's S has no digit after its dot: the keyword, not a date's field.
    best = parse_dates(text, REF).best
    assert best is not None, text
    assert (best.date.isoformat(), best.kind) == ("2027-05-12", DateKind.EXPIRY), text


@pytest.mark.parametrize(
    "text",
    [
        "EXP 1G.05.2027",
        "EXP 1D/09/27",
        "12,09.27",
        "MHD 12,09.27",
        "3O;11.2027",
        "12:05/2027",
        "12°05.2027",
        "12_05.2027",
    ],
)
def test_a_date_whose_day_ocr_damaged_is_not_its_month(text: str) -> None:
    # Read as the month's last day it would answer a date later than the one printed (without a
    # keyword a separator read as a comma, semicolon or colon is not repaired: nothing is read).
    assert parse_dates(text, REF).best is None, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BB 3O,11.2027", "2027-11-30"),
        ("EXP 12.05;2027", "2027-05-12"),
        ("EXP 12;05;2027", "2027-05-12"),
        ("EXP 12:05.2027", "2027-05-12"),
        ("MFG 01,05.2026 EXP 01.05,2027", "2027-05-01"),
        # another script's dot: the Chinese models' 。 and ·, the Japanese ・ (keyword or none)
        ("EXP 12·05·2027", "2027-05-12"),
        ("12。05。2027", "2027-05-12"),
        ("賞味期限 2027・05・12", "2027-05-12"),
        ("유통기한 2027ㆍ05ㆍ12", "2027-05-12"),
        ("EXP DATE\n12,05.2027", "2027-05-12"),  # its keyword on the line above
        ("EXP 12°05.2027", "2027-05-12"),  # a blot of ink
        ("EXP 12_05.2027", "2027-05-12"),
        # the second date of a pair (else the production date would stand for the expiry date)
        ("MFG/EXP 12.05.2026 12;06.2027", "2027-06-12"),
        ("MFG DATE EXP DATE\n12,05.2026 12,06.2027", "2027-06-12"),
    ],
)
def test_a_separator_ocr_read_as_another_mark_is_repaired(text: str, expected: str) -> None:
    # Dot-matrix separators whose dots sit low or stacked read as , ; or :.
    assert _best_date(text) == expected, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the first separator read as a space: not a count and the month's last day
        ("EXP 21 07.2027", "2027-07-21"),
        ("BEST BEFORE: 07 03/2027 L4", "2027-03-07"),
        ("MFG 21 07.2026 EXP 21 07.2027", "2027-07-21"),
        # year first, a separator lost (or the second read as a space): not a month, not no date
        ("EXP: 202708/18", "2027-08-18"),
        ("EXP:\n202708/18", "2027-08-18"),
        ("EXP 2027.07 21", "2027-07-21"),
        ("EXP 2027.07 21 LOT 4", "2027-07-21"),
        ("EXP 2027.0718", "2027-07-18"),
        ("EXP 2570.07 21", "2027-07-21"),  # the Buddhist era's year
    ],
)
def test_a_lost_separator_after_a_keyword_is_repaired(text: str, expected: str) -> None:
    assert _best_date(text) == expected, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # away from a keyword the shapes stay what they were: a count and a month, no date
        ("07 03/2027 L4", "2027-03"),
        ("Tel 202708/18", None),
        # and an impossible day is no date, nor the price after the year a month
        ("EXP 2027 12.50", None),
        # A review's findings: a lot and a month, never one year-first date years later, nor none
        ("LOT EXP\n2031 05.27", "2027-05"),
        ("Batch/Expiry: 2031 05/27", "2027-05"),
        ("B.NO. MFG. EXP.\n2031 05.25 04.27", "2027-04"),
        ("L2507 05/27", "2027-05"),
        ("MFD 07/25\nL2507 07/27", "2027-07"),
        ("500g e\n2031 05.27", "2027-05"),
        ("LOT 12 06.2027", "2027-06"),  # a lot keyword licenses no repaired shape
        # a month and a count, a price or a time: the month, not a day
        ("EXP 2027.06 18 MONTHS", "2027-06"),
        ("EXP 2027.06 24X200ML", "2027-06"),
        ("BB 2027.06 24 PCS", "2027-06"),
        ("MHD 2027.05 19,99 EUR", "2027-05"),
        ("EXP 2027-06 10H30", "2027-06"),
    ],
)
def test_a_lost_separator_is_repaired_only_after_a_keyword(text: str, expected: str | None) -> None:
    best = parse_dates(text, REF).best
    assert (best and best.date.isoformat()[: len(expected or "")]) == expected, text


@pytest.mark.parametrize(
    ("text", "expected", "printed"),
    [
        # Year first, its first separator read as a space. Its tail as read was July 2021, more
        # than five years before the reference date (expired long ago), or no date at all.
        ("BB 2027 07.21", "2027-07-21", "2027 07.21"),
        ("EXP: 2027 07/21", "2027-07-21", "2027 07/21"),
        ("EXP 2027 12.05", "2027-12-05", "2027 12.05"),
        ("MFG 2025.01.04\nEXP 2027 01.03", "2027-01-03", "2027 01.03"),
        ("EXP 2570 07.21", "2027-07-21", "2570 07.21"),  # the Buddhist era's year
        ("EXP 2027 07.21 10:30", "2027-07-21", "2027 07.21"),  # a time after it
        ("EXP 2O27 O7.21", "2027-07-21", "2O27 O7.21"),  # zeros read as O
    ],
)
def test_a_year_first_date_whose_first_separator_read_as_a_space_is_repaired(
    text: str, expected: str, printed: str
) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected, text
    assert best.kind is DateKind.EXPIRY and best.precision is DatePrecision.DAY
    assert best.text == printed  # the span as printed, which the pipeline finds on its line


def test_every_restored_date_keeps_its_text_as_printed() -> None:
    found = parse_dates("MFG 2025 07.21\nEXP 2027 07.21", REF)
    assert [(date.date.isoformat(), date.text) for date in found.candidates] == [
        ("2025-07-21", "2025 07.21"),
        ("2027-07-21", "2027 07.21"),
    ]
    assert found.best is found.candidates[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Its tail a plausible month: as often a lot and a month (the review's findings above).
        ("LOT EXP\n2031 05.27", "2027-05"),
        ("B.NO. MFG. EXP.\n2031 05.25 04.27", "2027-04"),
        ("LOT EXP\n2031 O5.27", "2027-05"),  # its 0 read as an O
        # A second review's findings: a lot, then a production date that lost its second
        # separator, is not a lot-year date; nor a lot and a day and month before a year.
        ("B.NO. MFG. EXP.\n2031 05.07 2025 05.07.2027", "2027-07-05"),
        ("Batch No. Mfg. Date Exp. Date\n2031 05-07 2025 05-07-2027", "2027-07-05"),
        ("LOT EXP\n2031 05.07 2027", "2027-07-05"),
        ("LOT EXP\n2031 05.07 27", None),
        ("B.NO. MFG. EXP.\n2031 05.07 25 05.07.27", None),
        # No expiry keyword, or a lot's: left as read.
        ("2027 07.21", "2021-07"),
        ("LOT 2027 07.21", "2021-07"),
        ("EXP 2027 07.2150", None),  # no day: the tail runs on
    ],
)
def test_a_spaced_year_first_date_is_repaired_only_where_its_tail_is_no_plausible_date(
    text: str, expected: str | None
) -> None:
    best = parse_dates(text, REF).best
    assert (best and best.date.isoformat()[: len(expected or "")]) == expected, text


@pytest.mark.parametrize("text", ["EXP 08:05.27", "EXP 12.05:27", "EXP 12,5,27", "BB 05,2027"])
def test_a_time_a_list_or_a_price_is_not_a_repaired_date(text: str) -> None:
    # Only before a four-digit year.
    assert parse_dates(text, REF).best is None, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A review's findings: ranges of decimals and hours, a month-year and a count, a number
        # before a date are no repaired dates (away from a keyword, or with a two-digit year).
        ("MHD 10.05.2027\nMo-Fr 9-13,15-18 Uhr", "2027-05-10"),
        ("BEST BEFORE 03.04.2027\nGarzeit 8-14,15 Min", "2027-04-03"),
        ("LOT 4711\n12.05.2027\nGarzeit 2,5-30 Min", "2027-05-12"),
        ("LOT 4711\n01/2027\nFett 12,5-27 g", "2027-01-31"),
        ("EXP 05/27,15", "2027-05-31"),
        ("BEST BEFORE 5,12-05-27", "2027-05-12"),
        ("Best before: 3,12/05/2027", "2027-05-12"),
    ],
)
def test_a_range_or_a_count_beside_a_date_is_no_repaired_date(text: str, expected: str) -> None:
    assert _best_date(text) == expected, text


@pytest.mark.parametrize(("text", "expected"), [("EXP.05/2027", "2027-05"), ("LOT 4A1 05/2027", "2027-05")])
def test_a_month_after_a_keyword_or_a_code_is_still_a_month(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.precision is DatePrecision.MONTH, text
    assert best.date.isoformat()[:7] == expected, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a date glued to its keyword, its first digit read as a letter
        ("EXPI9/09/2027", "2027-09-19"),
        ("MHDI9.09.2027", "2027-09-19"),
        ("BBZ8.12.2028", "2028-12-28"),
        ("EXP|1/05/2027", "2027-05-01"),  # a bar is the keyword's colon or a rule, not a 1
        ("MFGI2.01.2026 EXPI2.01.2028", "2028-01-12"),
        ("EXPI90927", "2027-09-19"),
        # a coder's day whose zero OCR read as an O, glued to its month
        ("BB 3OJUN27", "2027-06-30"),
        ("BEST BY 1OMAR27", "2027-03-10"),
        ("EXP 2OjAN28", "2028-01-20"),
        # a colon read as a 1 before a month and a four-digit year, as before a day
        ("VAL105/2027", "2027-05"),
        ("EXP112-2028", "2028-12"),
    ],
)
def test_a_digit_read_as_a_letter_beside_a_keyword_or_a_month(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.kind is DateKind.EXPIRY, text
    assert best.date.isoformat()[: len(expected)] == expected, (text, best)


def test_a_keyword_and_a_letter_that_spell_a_month_are_the_month() -> None:
    best = parse_dates("FEB12 2027", REF).best
    assert best is not None and best.date == dt.date(2027, 2, 12)


def test_an_amount_is_no_later_date_than_the_label_s() -> None:
    best = parse_dates("Fat 10.30g\n12.05.27", REF).best
    assert best is not None and best.date == dt.date(2027, 5, 12)
    best = parse_dates("EXP 05/27L", REF).best  # a slash: a date and a lot letter
    assert best is not None and best.date == dt.date(2027, 5, 31)
    best = parse_dates("BB 09.27G 12:30", REF).best  # a keyword: a date and a plant letter
    assert best is not None and best.date == dt.date(2027, 9, 30)


def test_the_stray_manufacture_date_is_unlabelled() -> None:
    kinds = [c.kind for c in parse_dates("MFD\n12.03.27\n12.03.26", REF).candidates]
    assert kinds == [DateKind.UNKNOWN, DateKind.UNKNOWN]


@pytest.mark.parametrize(
    "text",
    [
        "EXP 12/05-12/06",  # a range of days, not a date
        "TEMP 2-8.5",
        "10.5-12.5 G",
        "8858702144723",
        "1004899419",
        "A123/45/67",
        "L6 11.05.202008:05",  # a year glued to a time is no glued column
        "0508/2026",  # a lost separator is read only where a keyword is printed
        "L0508.2026 4412",
        "EXP 508.2026",  # and then only a two-digit day before a lost first separator
        "1.300   2.30-2.45 u",  # a range of decimals (cooking minutes), not February 2030
        "1408261D",  # a date glued to a shift code is read only where a keyword is printed
        "EXP 14082611D",  # and then only six digits, one more, and a letter
        "STORE AT 2C-8C",  # a C between digits only: temperatures stay temperatures
        "KEEP BELOW 5C",
        "11/08/202",  # a four-digit year that lost its last digit is no two-digit year 20
        "14-06-224",  # 14-06-22 and a 4, or 14-06-2024 that lost its 0: both in the window, not read
        "PRODUCED 05/03/2026\n0703271A",  # a shift-code date only under its expiry keyword
        "PACKED ON 01.03.2026\n2703151A",
        "Store at -1C/30F",  # a C before a separator is a temperature's
        "Keep at 1C/34F",
        "Pack 10-12 2025",  # a second separator read as a space: only with a keyword or a twin
        "Fat 01.12 2025 mg",
        "Xoxland Russland MChJ, Rossiya, 140126, Moskva",  # a postal code between commas
        "Ul. Lenina 5, 251123, Kyiv",
        "12/01/2\u53f7",  # 12/01/27 whose 7 OCR read as a CJK sign: no 2012-01-02 (27.7.1 stays)
        "\u8cde\u5473\u671f\u9650 26.03.1",  # a year-first day is never unpadded after a padded month
        "Coca-Cola 1.25l",  # a decimal with a unit is an amount, not January 2025
        "Fat 10.30g Salt 0.12g",
        "Energy 12.30kcal",
        "125g (4.41 oz)",  # a unit of two letters or more may follow a space (realworld3 010)
        "Fat 12.28 g",  # a nutrition table's row: a spaced gram too (a review)
        "Saturated fat 10.29 g",
        "Energy 10.30 kcal",
        "Protein 10.25 %",
        "BIG MAC 2 25",  # no Malay MAC nor DIS: a burger and a discount
        "DIS 25 %",
    ],
)
def test_not_dates(text: str) -> None:
    best = parse_dates(text, REF).best
    assert best is None, (text, best)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An eight-digit date that OCR split with a space (a dot-matrix gap), right after its expiry
        # keyword.
        ("EXP 1305 2025", "2025-05-13"),
        ("EXP DATE: 1305 2025", "2025-05-13"),
        ("BEST BY 0510 2027", "2027-05-10"),  # month first under a US phrase, as unsplit
        ("SELL BY 1231 2027", "2027-12-31"),
        ("MFG/EXP 0105 2026 0106 2027", "2027-06-01"),  # a pair: the second date too
        ("EXP: 13 052025", "2025-05-13"),  # May 2025 otherwise, later than the printed date
        ("EXP 2025 0513", "2025-05-13"),
        # ... not a date and the shift code after it, nor a code's digits before a month-year
        ("EXP 200826 14", "2026-08-20"),
        ("T2 L:AB12 112026", "2026-11-30"),
        # ... nor a six-digit date and a shift whose year-first day or day-first year is 20 or 25
        # (a review's findings: so a space inside a year is never joined)
        ("유통기한 271120 14", "2027-11-20"),
        ("EXP 150525 12", "2025-05-15"),
    ],
)
def test_an_eight_digit_date_split_by_a_space_is_read_whole_after_its_expiry_keyword(
    text: str, expected: str
) -> None:
    assert _best_date(text) == expected, text


@pytest.mark.parametrize("text", ["130520 25", "LOT 2025 0513", "EXP 130520 25"])
def test_a_split_date_without_its_expiry_keyword_is_not_joined(text: str) -> None:
    assert _best_date(text) != "2025-05-13", text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A year-first date whose separators OCR spaced out unevenly: not the month alone (its last
        # day, later than the printed date) nor "05.12" as May 2012.
        ("EXP 2027.05. 12", "2027-05-12"),
        ("EXP 2027. 05.12", "2027-05-12"),
        ("유통기한 2027.05. 12 까지", "2027-05-12"),
        ("MFG 2026.05. 12\nEXP 2027.05. 12", "2027-05-12"),
        # ... and as before: evenly spaced, and a year-first month
        ("EXP 2027. 05. 12", "2027-05-12"),
        ("EXP 2027.05", "2027-05-31"),
        # ... but not a code, a month and a date, a month and a word, or a number (a review's
        # findings)
        ("LOT 2503 - 12.06.2027", "2027-06-12"),
        ("L2503/ 12.06.2027", "2027-06-12"),
        ("MFG/EXP 2026.05 / 12.05.2027", "2027-05-12"),
        ("2026.05. 12.05.2027", "2027-05-12"),
        ("EXP 2027.05 -12K", "2027-05-31"),
        ("EXP 2027/05 - 12 MONTHS", "2027-05-31"),
        ("12.06.2026\nTel 2031 -05-12", "2026-06-12"),
    ],
)
def test_a_year_first_date_with_unevenly_spaced_separators_is_read_whole(text: str, expected: str) -> None:
    assert _best_date(text) == expected, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A month-name date whose four-digit year OCR split with a space (realworld2 002 sent at
        # 1,024 px: "27AUG2022" read "27ALIG2 022", answered as next August, not expired): read whole
        ("BEST IF USED BY\n27ALIG2 022", "2022-08-27"),
        ("27 AUG 2 022", "2022-08-27"),
        ("EXP 27 AUG 202 2", "2022-08-27"),
        ("EXP 27 AUG 2 022 14:30", "2022-08-27"),
        ("27 DE AGOSTO DE 2 022", "2022-08-27"),
        # ... but not "20 22", as much the year 20 and a number; not a year run on into more digits
        # or a time; not without a day before the month ("AUG 2 022" is as much the 2nd and a code,
        # "MAR 26 2 030" March 2026 and a code)
        ("27 AUG 20 22", "2020-08-27"),
        ("12 MAR 2 0221", "2027-03-12"),
        ("12 MAR 2 022:15", "2027-03-12"),
        ("EXP AUG 2 022", None),
        ("EXP MAR 26 2 030", "2026-03-31"),
        ("AUG 27 2 022", "2027-08-31"),
        # ... nor a number grouped by thousands after a date printed without its year (a review's
        # findings): a count, a weight, an energy, a price, a long number, a year out of the window
        ("BB 14 FEB 2 000 PCS", "2027-02-14"),
        ("EXP 14 FEB 2 025G", "2027-02-14"),
        ("BB 14 FEB 2 025 KCAL", "2027-02-14"),
        ("EXP 15 MAR 2 049,00", "2027-03-15"),
        ("EXP 12 MAY 2 012 345", "2027-05-12"),
        ("USE BY 14 FEB 200 2PK", "2027-02-14"),
        ("BEST BEFORE 12 MAY 2 099", "2027-05-12"),
    ],
)
def test_a_month_name_date_whose_year_ocr_split_is_read_whole(text: str, expected: str | None) -> None:
    assert _best_date(text) == expected, text
