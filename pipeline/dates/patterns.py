"""The shapes a printed date takes, found in normalised text.

Every pattern is a sequence of bounded repeats with no nested quantifiers, and every
look-around is of fixed width, so matching is linear in the text length.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from pipeline.dates.months import (
    CANADIAN_MONTHS,
    CODER_MONTHS,
    LOST_LETTER_MONTHS,
    MONTH_AT_WORD_START,
    MONTH_PATTERN,
)
from pipeline.dates.order import canadian

__all__ = ["Form", "RawMatch", "find_matches"]


class Form(enum.Enum):
    """Which pattern matched; each has its own reading rule in ``reading.py``."""

    YEAR_FIRST = "year_first"  # 2026-03-15, 2026.03.15, 2027 09 18, 2026/08, 2027年6月30日
    TRIPLE = "triple"  # 15/03/2026, 15.03.26, 15 03 26, 15\03\26
    COMPACT = "compact"  # 150326, 15032026, 20260315, 032026
    MONTH_YEAR = "month_year"  # 03/2026, 03/26
    DAY_NAME = "day_name"  # 15 MAR 2026, 15MAR26, 15 de marco de 2026, 16 NOV
    NAME_DAY_YEAR = "name_day_year"  # MAR 15 2026, MAR 15, 2026
    NAME_YEAR = "name_year"  # MAR/27, SET25, ABRIL 2027
    YEAR_NAME_DAY = "year_name_day"  # 2023-MAR-15, 2023 MAR 15


# A year, and where it may end: four digits not glued to more digits or to a time, or two digits
# that may be glued to a time ("01/01/2603:33" is 01/01/26 then 03:33) but not followed by a colon.
_YEAR_FORMS = r"\d{4}(?!\d)(?!:\d)|\d{2}(?=\d{1,2}:\d\d)|\d{2}(?![\d:])"
_YEAR = rf"(?P<y>{_YEAR_FORMS})"
# The last field of a triple: a year, or in a year-first label a one-digit day ("27.7.1"), or
# last a year 20YY glued to the digits after it, where OCR ran two columns together
# ("01/04/2026 07 01" read "01/04/20260701", "01/04/202601/04/2027"), but not to a time
# ("11.05.202008:05" may as well be 11.05.20 then 20:08).
_LAST = r"(?P<y>\d{4}(?!\d)(?!:\d)|\d{2}(?=\d{1,2}:\d\d)|\d{1,2}(?![\d:])|20\d\d(?=\d)(?!\d{1,2}:\d))"
# A four-digit year after a day and a month name that the OCR split with one space: "27ALIG2 022"
# (realworld2 002 sent at 1,024 px, "27AUG2022": its year lost, the date was next year's). Only
# 2 0YY and 20Y Y of the years 2010 to 2049, and only before no more digits (but a time) nor a unit
# (a review's findings):
# - "20 22" is as much the two-digit year 20 and a number after it;
# - "2 000G", "2 025 KCAL", "2 049,00", "2 012 345" are numbers grouped by thousands, as much of
#   Europe prints them, after a date whose year was not printed; a year outside the parser's window
#   would lose that date's day and month too;
# - not after a month and a day ("MAR 26 2 030": the 26 may be the year) nor after a month alone.
_SPLIT_YEAR = (
    r"(?:2 0[1-4]\d|20[1-4] \d)"
    r"(?![\d:]|[.,]\d| \d(?!\d?:\d)|[^\W\d_]| (?:G|KG|MG|ML|CL|KJ|KCAL|PCS|PK|X)(?![^\W\d_]))"
)
# After a day and a month name: a year (_YEAR) or a split one.
_NAMED_YEAR = rf"(?P<y>{_YEAR_FORMS}|{_SPLIT_YEAR})"
# Between day, month name and year: "15MAR26", "15 MAR 2026", "15-MAR-26", "15 de marco de 2026".
_NAME_SEP = r"[ .,/\-]{0,3}(?:DEL? {1,3})?"
_MONTH = rf"(?P<mon>{MONTH_PATTERN})(?![^\W\d_])"

# A date's first digit, which may not stand after another digit or after a time's colon ("08:05
# SEP 24"). The look-behinds come after the digit, not before it: a pattern that opens with a
# digit lets the regex engine skip ahead to the next digit instead of trying every position.
_FIRST = r"\d(?<!\d\d)(?<!\d:\d)"
# After a month's first digit: no day before it, one or two digits or a digit and a letter standing
# apart, then a separator (any mark). "EXP 1G.05.2027", "1D/09/27", "12,09.27", "12°05.2027" are a
# day, month and year whose day the OCR misread or whose separator it changed, not May 2027 (a
# month's last day, later than the printed date: a review's finding). "EXP.05/2027", "LOT
# 4A12.05/2027" stay months.
_SEP = r"(?:[^\w\s]|_)"
_NO_DAY_BEFORE = (
    rf"(?<!(?<![A-Z0-9])\d{_SEP}\d)(?<!(?<![A-Z0-9])\d\d{_SEP}\d)(?<!(?<![A-Z0-9])\d[A-Z]{_SEP}\d)"
)
_NUMERIC_PATTERNS: tuple[tuple[Form, re.Pattern[str]], ...] = (
    (
        # 2026-03-15, 2026.03.15, 2027 09 18, "2028. 02. 11" (a space after each dot), and with no
        # day the year-first month 2026/08, 2026-08 (not with a space: "2026 12" is no date).
        Form.YEAR_FIRST,
        re.compile(
            rf"(?P<y>{_FIRST}\d{{3}})(?P<s>[./\-] ?| )(?P<m>\d{{1,2}})"
            # the day, or none: then no space before the month and no day that failed to match
            r"(?:(?P=s)(?P<d>\d{1,2})|(?<! \d)(?<! \d\d)(?!(?P=s)\d))(?!\d)"
        ),
    ),
    # A two-digit year first, as Japanese labels print it, with a one-digit day padded by a space
    # ("18. 12. 9", "18.12. 9": 9 Dec 2018; realworld6). A one-digit last field is never a year, so
    # this is the one reading (before the triples, which would take it and find no year); a two-digit
    # day leaves "18.12.31" to the date order.
    (
        Form.YEAR_FIRST,
        re.compile(rf"(?P<y>{_FIRST}\d)(?P<p>[./\-]) ?(?P<m>\d\d?)(?P=p) (?P<d>[1-9])(?![\d:])(?![./\-]\d)"),
    ),
    # 15/03/2026, 15.03.26, "15. 03. 26", 15 03 26, 15\\03\\26: the same separator twice. Or what
    # OCR makes of a printed separator: another one (01-07.2027, 16/08-26), doubled (12..05), with a
    # space beside it (12 /05/ 27); not a space alone, and then not where the last field goes on as
    # a shape (12/05-12/06 is a range of days). One pattern: the same separator is tried first.
    (
        Form.TRIPLE,
        re.compile(
            rf"(?P<a>{_FIRST}\d?)(?P<s>(?P<p>[./\-\\]) ?| |(?P<q> ?[./\-\\]{{1,2}} ?))(?P<b>\d{{1,2}})"
            r"(?:(?P=s)|(?P<mixed>(?(p)|(?(q)|(?!))) ?[./\-\\]{1,2} ?))"
            rf"{_LAST}(?(mixed)(?![./\-\\]\d))"
        ),
    ),
    (Form.COMPACT, re.compile(rf"(?P<c>{_FIRST}(?:\d{{7}}|\d{{5}}))(?!\d)")),
    # A triple whose separators OCR spaced out or half lost: "15 - 03 . 2027", "09.07 2023" (the
    # second dot read as a space: ``half`` is the first separator, and the parser keeps such a
    # date only on a label with a keyword or another date printed with that separator twice, as
    # a coder prints its dates alike), and "23 08 .2022" (a space first, then a separator with a
    # space before it; not "07 03/2027", which is as likely a number and 03/2027). Two-digit day
    # and month and a four-digit year of this century or the Buddhist era's only.
    (
        Form.TRIPLE,
        re.compile(rf"(?P<a>{_FIRST}\d) ?[./\-] ?(?P<b>\d\d) ?[./\-] ?(?P<y>(?:20|25)\d\d)(?![\d:])"),
    ),
    (
        Form.TRIPLE,
        re.compile(rf"(?P<a>{_FIRST}\d) ?(?P<half>[./\-]) ?(?P<b>\d\d) (?P<y>(?:20|25)\d\d)(?![\d:])"),
    ),
    (Form.TRIPLE, re.compile(rf"(?P<a>{_FIRST}\d) (?P<b>\d\d) [./\-] ?(?P<y>(?:20|25)\d\d)(?![\d:])")),
    # A year-first date whose separators OCR spaced out unevenly, as it spaces a dot-matrix code's
    # columns: a space after one separator and not the other ("2027.05. 12", "2027. 05.12"). Read
    # as the month alone ("2027.05", the 31st: later than the printed day), they were wrong dates.
    # Japanese labels print it so too, a one-digit month or day padded with a space ("2018. 6.12",
    # "2018.12. 9"; realworld6), which read as June 2012. A four-digit year of this century or the
    # Buddhist era's, the same separator twice, and a day that goes on as no other field
    # ("2026.05. 12.05.2027" is a month and a date). Not a space before a separator: "LOT 2503 -
    # 12.06.2027", "2026.05 / 12.05.2027" and "Tel 2031 -05-12" are a code, two dates and a number
    # (a review's findings).
    (
        Form.YEAR_FIRST,
        re.compile(
            r"(?P<y>2(?<!\d2)(?<!\d:2)[05]\d\d)(?P<p>[./\-]) ?(?P<m>\d\d?)(?P=p) ?(?P<d>\d\d?)"
            r"(?![\d:])(?![./\-]\d)"
        ),
    ),
    # A day, month and two-digit year with the next column's first digit glued on: "11/08/244-11K"
    # is 11/08/24 then the lot 4-11K (the glued digit goes on as a code: a separator or a letter
    # follows; "Tel 03-12-345" is no date). A three-digit last field is never a year; not "20x", which
    # is as likely a four-digit year 20xx that lost its last digit, and not where the field is as
    # likely 20YY that lost its 0 ("224" for 2024: ``reading.read`` checks the window).
    (
        Form.TRIPLE,
        re.compile(
            rf"(?P<a>{_FIRST}\d)(?P<p>[./\-])(?P<b>\d\d)(?P=p)(?P<y>(?!20)\d\d)(?=(?P<glued>\d)[./\-A-Z])"
        ),
    ),
    # 03/2026, 03/26 (not "2.30-2.45", a range of decimals), and with a space only between a
    # two-digit month and a four-digit year that does not open a year-first date (BB 12 2026, not
    # "T2 2023.09.17"), and not after a number and a space: "202320 04 2025" is a triple whose day
    # is glued to the year before it.
    (
        Form.MONTH_YEAR,
        re.compile(
            rf"(?P<m>{_FIRST}{_NO_DAY_BEFORE}\d?)"
            rf"(?P<s>[./\-\\]|(?<=\d\d)(?<!\d \d\d) (?=\d{{4}}(?![\d:]|[./\-]\d))){_YEAR}"
            # not the first number of a range of decimals ("2.30-2.45" minutes, "1.5-2.0 kg")
            r"(?!-\d{1,3}[.,]\d)"
        ),
    ),
)
# Shapes that print or OCR damaged, read only on labels with a keyword (see ``_patterns``): a
# repaired shape needs a word saying a date is there.
# A triple with one of its two separators lost: a dot-matrix separator is two or three dots,
# which the printer or the OCR drops ("0508.2026" for 05.08.2026, "05.082026"). Only with a
# four-digit year of this century or the Buddhist era's (20YY, 25YY), with the first separator
# lost only before a dot, slash or hyphen ("0508 2026" is as likely a code and a year).
# What OCR makes of a dot-matrix date separator besides a separator (see the pattern below).
_MISREAD = r"[,;:°'*_]"
# A four-digit year that opens a repaired year-first date: this century's or the Buddhist era's,
# not glued to a digit or a time before it; and the day that closes it, 01 to 31.
_REPAIRED_YEAR = r"2(?<!\d2)(?<!\d:2)[05]\d\d"
_REPAIRED_DAY = r"0[1-9]|[12]\d|3[01]"
# Units and currencies that make a number after a month a count or a price, not its day.
_COUNT_UNITS = "G|KG|MG|ML|CL|KJ|KCAL|PCS|PC|PK|X|MONTHS?|EUR|USD|%"
_DAMAGED_PATTERNS: tuple[tuple[Form, re.Pattern[str]], ...] = (
    (
        Form.TRIPLE,
        re.compile(
            # day, the first separator or none, month, then the second separator only if the first
            # was lost, and then a two-digit day (four digits before the separator)
            rf"(?P<a>{_FIRST}\d?)(?P<s>[./\-])?(?P<b>\d\d)(?(s)|(?<=\d{{4}})[./\-])"
            r"(?P<y>(?:20|25)\d\d)(?![\d:])"
        ),
    ),
    # A triple with a separator that OCR read as a comma, a semicolon or a colon, as it reads the
    # dots of a dot-matrix separator that sit low or stacked ("EXP 12,05.2027", "12.05;2027",
    # "12;05;2027"), or as another mark a blot of ink makes of a dot ("12°05.2027"), before a
    # four-digit year of this century or the Buddhist era's, right after a keyword or the date it
    # pairs with (``_repairs_kept``): with a two-digit year or elsewhere the shape is a range of
    # decimals or hours as often ("Mo-Fr 9-13,15-18", "Fett 12,5-27 g", "EXP 05/27,15": a review's
    # findings).
    (
        Form.TRIPLE,
        re.compile(
            rf"(?P<a>{_FIRST}\d?)(?:{_MISREAD}|[./\-](?=\d\d?{_MISREAD}))(?P<b>\d\d?)(?:[./\-]|{_MISREAD})"
            r"(?P<y>(?:20|25)\d\d)(?![\d:])(?P<repaired>)"
        ),
    ),
    # A six-digit date glued to the shift or line code a coder prints after it ("140826 1D" read
    # "1408261D"): six digits, then one digit and a letter.
    # The parser keeps it only where an expiry keyword labels it (``shift``): production and
    # batch codes are printed so too ("PRODUCED 05/03/2026 0703271A").
    (Form.COMPACT, re.compile(rf"(?P<c>{_FIRST}\d{{5}})(?=(?P<shift>\d)[A-Z])")),
    # An eight-digit date that OCR split with a space, as it reads a dot-matrix gap: day and month
    # (month and day under a US phrase), then a four-digit year of this century or the Buddhist
    # era's ("EXP 1305 2025"; "13 052025", May 2025 otherwise), or such a year, then month and day
    # ("2025 0513", "202505 13"). Right after an expiry keyword or a date only (``_repairs_kept``,
    # and the parser: ``split``). Not a space inside the year ("130520 25"): as often a six-digit
    # date and a shift ("유통기한 271120 14", a review's finding).
    (
        Form.COMPACT,
        re.compile(
            rf"(?P<c>{_FIRST}(?:\d[0-3]\d (?:20|25)\d\d|\d (?:0[1-9]|1[0-2])(?:20|25)\d\d"
            r"|(?<=2)0\d\d(?: (?:0[1-9]|1[0-2])|(?:0[1-9]|1[0-2]) )[0-3]\d))(?![\d:])"
            r"(?P<repaired>)(?P<split>)"
        ),
    ),
    # A triple whose first separator OCR read as a space, after a keyword: "EXP 21 07.2027", read
    # elsewhere as a count and the month 07.2027, was then July's last day, ten days later than
    # printed. A day and a month of two digits and a four-digit year of this century or the
    # Buddhist era's.
    (
        Form.TRIPLE,
        re.compile(
            rf"(?P<a>{_FIRST}(?<=[0-3])\d)(?<!00) (?P<b>0[1-9]|1[0-2])[./\-](?P<y>(?:20|25)\d\d)(?![\d:])"
            r"(?P<repaired>)"
        ),
    ),
    # A year-first date whose first separator OCR lost, as it drops a dot-matrix separator's dots:
    # "EXP: 202708/18" was no date. Glued only: "2031 05.27" is as often a lot and a month ("LOT
    # EXP" over "2031 05.27", "L2507 05/27": a review's findings), and read year first it gave a
    # date years later than printed.
    (
        Form.YEAR_FIRST,
        re.compile(
            rf"(?P<y>{_REPAIRED_YEAR})(?P<m>0[1-9]|1[0-2])[./\-](?P<d>{_REPAIRED_DAY})(?![\d:])(?![./\-]\d)"
            r"(?P<repaired>)"
        ),
    ),
    # A year-first date whose second separator OCR lost or read as a space: "EXP 2027.0718" was no
    # date and "EXP 2027.07 21" July's last day. Not before a decimal, a letter, or a unit or a
    # currency after a space ("2027.06 24X200ML", "2027.05 19,99 EUR", "2027.06 24 PCS", "2027.06 18
    # MONTHS": a month and a count or a price, a review's findings).
    (
        Form.YEAR_FIRST,
        re.compile(
            rf"(?P<y>{_REPAIRED_YEAR})[./\-](?P<m>0[1-9]|1[0-2]) ?(?P<d>{_REPAIRED_DAY})(?![\d:])"
            rf"(?![./\-,]\d)(?![^\W\d_])(?! (?:{_COUNT_UNITS})(?![^\W\d_]))"
            r"(?P<repaired>)"
        ),
    ),
)
# A day, a coder's month that lost its first letter and a year, glued as coders print them
# ("20UL2022" for 20JUL2022, "19EP28" for 19SEP28; months.LOST_LETTER_MONTHS): no space, no
# separator. Tried after the named patterns, so that a whole month's match of the same span wins.
_LOST_LETTER_PATTERN = (
    Form.DAY_NAME,
    re.compile(
        rf"(?P<d>{_FIRST}\d?)(?P<mon>{'|'.join(sorted(LOST_LETTER_MONTHS))})"
        r"(?P<y>\d{4}(?!\d)(?!:\d)|\d{2}(?![\d:]))"
    ),
)
# Chinese, Japanese and Korean dates spell the fields out: 2027年6月30日, 2027년 06월 30일, 27年6月.
_CJK_PATTERN = (
    Form.YEAR_FIRST,
    re.compile(
        rf"(?P<y>{_FIRST}\d{{1,3}}) ?[年년] ?(?P<m>\d{{1,2}}) ?[月월]"
        r"(?: ?(?P<d>\d{1,2})(?: ?[日일])?)?(?!\d)"
    ),
)
# Japan's Reiwa era, whose year 1 is 2019 (years.REIWA_YEAR_ONE): "令和9年5月12日", "R9.05.12" (27
# May 2027). The era letter alone is read only on a label with kana or kanji ("R12.50" is a price
# elsewhere), and only with a day; the era's name with a month alone too ("令和9年5月"). The empty
# ``y`` says no year was printed in digits (parser.py's evidence).
_REIWA_PATTERN = (
    Form.YEAR_FIRST,
    re.compile(
        r"(?P<y>)(?:令和 ?(?P<era>\d{1,2}|元) ?年 ?(?P<m>\d{1,2}) ?月(?: ?(?P<d>\d{1,2}) ?日?)?"
        r"|(?<![A-Z\d])R ?(?P<era_r>\d{1,2})(?P<s>[./\-])(?P<m_r>\d{1,2})(?P=s)(?P<d_r>\d{1,2}))(?!\d)"
    ),
)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and kanji
# Canada's year (optional), bilingual month symbol and day ("2027 JA 15", "27 MR 03", "JN 30"),
# read only on a label with a Canadian date phrase (months.CANADIAN_MONTHS): "BEST BEFORE" beside
# its French "MEILLEUR AVANT", "BB/MA", or "EMBALLE LE" (packaged on). Without its four-digit year,
# only right after a keyword (``_canadian_kept``): French cooking text says "DE 15 A 20 MIN" and
# "15 AU 20 MIN"; never the "MA" of "BB / MA" itself.
_CANADIAN_PATTERN = (
    Form.YEAR_NAME_DAY,
    re.compile(
        rf"(?<![A-Z\d/])(?<!/ )(?<!DU )(?<!DE )(?<!ENTRE )(?:(?P<y>20\d\d|\d\d) ?)?"
        rf"(?P<mon>{'|'.join(CANADIAN_MONTHS)}) ?(?P<d>[0-3]?\d)(?![\d:A-Z])"
        r"(?! ?(?:MIN|SEC|HEURE|HR|H\b|°|%))"  # "15 AU 20 MIN": a French range, no date
    ),
)
# Most lines name no month: one search for a month word spares them the three patterns below.
_ANY_MONTH = re.compile(rf"(?:{MONTH_AT_WORD_START})(?![A-Z])")
_MONTH_AT = re.compile(rf"(?:{MONTH_PATTERN})(?![A-Z])")


def _named_patterns(month: str) -> tuple[tuple[Form, re.Pattern[str]], ...]:
    """The patterns that open with a month name (``month``), and the day-first one."""
    return (
        (Form.DAY_NAME, re.compile(rf"(?P<d>{_FIRST}\d?){_NAME_SEP}{_MONTH}(?:{_NAME_SEP}{_NAMED_YEAR})?")),
        (
            # MAR 15 2026, OCT 03 27, AUG-19-2027, JUL/22/27: a two-digit year after a separator;
            # or glued, after a two-digit day glued to an English month's three letters: US coders
            # print MMMDDYY ("BEST BY JAN1323", "BB:FEB0223CA"). Not where the four digits read as
            # a year 19xx or 20xx: "JAN2027" is January 2027 (NAME_YEAR), as likely as 20 January
            # 2027; not after a month spelt out ("Outubro2826" is October 2026 misread). A
            # four-digit year may have the time glued on ("jun 14 202313:45"). Kept only
            # where a keyword labels it an expiry date (``coder``, see parser.py): unlabelled,
            # "NOV1230" is as likely a style or batch code.
            Form.NAME_DAY_YEAR,
            re.compile(
                rf"{month}[ .,/\-]{{0,2}}(?P<d>\d{{1,2}})(?:ST|ND|RD|TH)?[ .,/\-]{{0,2}}"
                r"(?P<y>\d{4}(?!\d)|\d{4}(?=\d{1,2}:\d\d)|(?<=[ .,/\-])\d{2}(?![\d:])"
                rf"|(?<=(?<![A-Z])(?:{'|'.join(CODER_MONTHS)})(?!19|20)\d\d)"
                r"(?P<coder>\d{2})(?![\d:]))"
            ),
        ),
        (Form.NAME_YEAR, re.compile(rf"{month}{_NAME_SEP}{_YEAR}")),
        # 2023-MAR-15, 2023 MAR 15: year, month name, day (ISO 8601's order with the month spelt,
        # US and Canadian coders). Years 20xx only ("23 MAR 15" is a day, month and year; "SAC 0800
        # DECEMBER 19 2028" a phone number and a date, "BEST BEFORE 2517 NOV 28" a code and a
        # month); not with a letter after the day ("2029 JUL 1A", a lot) nor a year ("LOT 2026 MAR
        # 15 2027" is a code and 15 March 2027).
        (
            Form.YEAR_NAME_DAY,
            re.compile(
                rf"(?P<y>(?<!\d)20\d\d)[ .,/\-]{{0,2}}{month}"
                r"[ .,/\-]{0,2}(?P<d>\d{1,2})(?![^\W_]|:)(?![ .,/\-]{1,2}\d\d)"
            ),
        ),
    )


# A month name that starts a word; the look-behind follows its first letter, so the engine skips
# ahead to the letters a month can start with and rejects a letter inside a word at once.
_NAMED_PATTERNS = _named_patterns(rf"(?P<mon>{MONTH_AT_WORD_START})(?![^\W\d_])")
# Where a keyword is glued to a month ("VALABR/27", "EXPFEV27"): any month, kept only where a
# keyword ends (``_stands_apart``). Run only on such lines.
_GLUED_PATTERNS = _named_patterns(_MONTH)[1:]


# Shapes loose enough to be read out of codes ("AB12 24 09", "T2 MAY 26", "MAQ:07 MAR/28"): when a
# letter comes right before them, that letter must end a keyword ("VAL15JAN26", "BY20 09 31").
_LOOSE = re.compile(r"\d{1,2}(?: \d{1,2} |[ .,/\-]{0,3}[A-Z])|\d{6}")


class RawMatch(NamedTuple):
    """One pattern match: where it is, which form, and its digit and name groups as printed
    (the regex match itself, read as ``groups["y"]``: a dict of every group would be built for
    matches that then lose to an overlapping one)."""

    start: int
    end: int
    form: Form
    groups: re.Match[str]

    def overlaps(self, other: RawMatch) -> bool:
        return self.start < other.end and other.start < self.end

    def year(self) -> str | None:
        """The year's digits as printed, a year the OCR split read whole ("2 022" is "2022",
        ``_SPLIT_YEAR``); None where the year group matched nothing. Not for a compact date, whose
        pattern has no year group."""
        year = self.groups["y"]
        return None if year is None else year.replace(" ", "")


def _stands_apart(text: str, start: int, form: Form, keyword_ends: AbstractSet[int]) -> bool:
    """False for a shape glued to a word that is not a keyword (one ':' or '.' between): a loose
    numeric shape ("AB12 24 09"), or a form that opens with a month name inside a word ("SUMAR
    25"), which may be glued only where a keyword ends ("VALABR/27")."""
    if form is Form.NAME_YEAR or form is Form.NAME_DAY_YEAR:  # (an Enum's hash runs Python code)
        return start == 0 or not text[start - 1].isalpha() or start in keyword_ends
    before = start - 1 if start and text[start - 1] in ":." else start
    if before == 0 or not text[before - 1].isalpha():
        return True
    return start in keyword_ends or before in keyword_ends or not _LOOSE.match(text, start)


def _first_then_longest(match: RawMatch) -> tuple[int, int]:
    return match.start, match.start - match.end


def _patterns(text: str, keyword_ends: AbstractSet[int]) -> tuple[tuple[Form, re.Pattern[str]], ...]:
    """The patterns worth running on ``text``: named ones only where a month word starts a word,
    or follows a keyword, the CJK one only where 年 or 년 is printed, the damaged-shape ones (and a
    month that lost its first letter) only where a keyword is."""
    patterns = _NUMERIC_PATTERNS
    if keyword_ends:
        patterns += _DAMAGED_PATTERNS
    if _ANY_MONTH.search(text):
        patterns += _NAMED_PATTERNS
    if keyword_ends and _month_glued(text, keyword_ends):
        patterns += _GLUED_PATTERNS
    if keyword_ends:
        patterns += (_LOST_LETTER_PATTERN,)
    # An ASCII text holds neither character: the common case skips both scans.
    if not text.isascii() and ("年" in text or "년" in text):
        patterns += (_CJK_PATTERN,)
    if not text.isascii() and ("令和" in text or ("R" in text and _JAPANESE.search(text))):
        patterns += (_REIWA_PATTERN,)
    if canadian(text):
        patterns += (_CANADIAN_PATTERN,)
    return patterns


def _month_glued(text: str, keyword_ends: AbstractSet[int]) -> bool:
    """Whether a month word starts right where a keyword ends ("VALABR/27")."""
    # A loop, not any() over a generator: this runs on every line that has a keyword.
    for end in keyword_ends:  # noqa: SIM110  (see the comment above)
        if text[end : end + 1].isalpha() and _MONTH_AT.match(text, end):
            return True
    return False


# Between a keyword and a month and year printed with a space ("BB 12 2026", "EXP: 12 2026").
_KEYWORD_GAP = re.compile(r"[ :.\-]{0,3}")


def _keeps(text: str, match: re.Match[str], form: Form, keyword_ends: AbstractSet[int]) -> bool:
    """Whether a match stands apart, and a month and year with a space follow a keyword: without
    one, "12 2031" is as likely the tail of a date whose start was lost ("Kabr 12 2031")."""
    start = match.start()
    if start and not _stands_apart(text, start, form, keyword_ends):
        return False
    if form is not Form.MONTH_YEAR or match["s"] != " ":
        return True
    return _after_keyword(text, start, keyword_ends, _KEYWORD_GAP)


def _after_keyword(text: str, start: int, keyword_ends: AbstractSet[int], gap: re.Pattern[str]) -> bool:
    """Whether a keyword ends before ``start`` with only ``gap`` between."""
    return any(end <= start and gap.fullmatch(text, end, start) for end in keyword_ends)


# A date is at most this long ("12 /05/ 2027").
_LONGEST = 16


def _glued_after(text: str, end: int) -> RawMatch | None:
    """The numeric date that starts at ``end``, right after another date's year, if any."""
    rest = text[end : end + _LONGEST]
    for form, pattern in _NUMERIC_PATTERNS:
        match = pattern.match(rest)
        if match is not None:
            return RawMatch(end, end + match.end(), form, match)
    return None


# Between a keyword and the repaired date it labels ("EXP: 1305 2025", "EXP DATE\n12,05.2027").
_REPAIR_GAP = re.compile(r"(?: ?DATE)?[\s:.\-/]{0,4}")


# Between the two dates of a pair that one keyword or a header row labels ("MFG/EXP 0105 2026 0106
# 2027", "MFG DATE EXP DATE" over "12.05.2026 12;06.2027").
_PAIR_GAP = re.compile(r"\s{1,6}")


def _repairs_kept(text: str, found: list[RawMatch], keyword_ends: AbstractSet[int]) -> list[RawMatch]:
    """``found`` without the repaired shapes (see ``_DAMAGED_PATTERNS``) that stand neither right
    after a keyword nor right after another date: the second date of a pair is kept with the first,
    or the pair's production date would be left to stand for its expiry date (a review's finding)."""
    if not any("repaired" in match.groups.re.groupindex for match in found):
        return found
    kept: list[RawMatch] = []
    for match in sorted(found, key=_first_then_longest):
        if (
            "repaired" not in match.groups.re.groupindex
            or _after_keyword(text, match.start, keyword_ends, _REPAIR_GAP)
            or any(
                other.end <= match.start and _PAIR_GAP.fullmatch(text, other.end, match.start)
                for other in kept
            )
        ):
            kept.append(match)
    return kept


# Between a keyword and the Canadian date it labels: separators and line breaks.
_CANADIAN_GAP = re.compile(r"[\s:.\-/]{0,4}(?:MA[\s:.\-]{0,3})?")  # "BB/MA JN 30"


def _canadian_kept(text: str, match: RawMatch, keyword_ends: AbstractSet[int]) -> bool:
    """Whether a Canadian month-symbol date prints its four-digit year, or follows a keyword: a
    two-digit one may be a French range ("15 AU 20 MIN", "DU 12 AU 18")."""
    if match.groups.re is not _CANADIAN_PATTERN[1] or len(match.groups["y"] or "") == 4:
        return True
    return _after_keyword(text, match.start, keyword_ends, _CANADIAN_GAP)


def find_matches(text: str, keyword_ends: AbstractSet[int], repair_ends: AbstractSet[int]) -> list[RawMatch]:
    """Every date-shaped span of ``text`` (normalised), in text order, none overlapping.

    ``keyword_ends`` are the positions where a keyword ends: a loose shape may be glued there.
    ``repair_ends`` are those of the keywords that may label a repaired shape
    (``_DAMAGED_PATTERNS``): not a lot keyword's, whose shape is the lot ("LOT 12 06.2027" is a lot
    and June 2027; "L2507 05/27" a lot and May 2027).

    Where matches overlap, the one that starts first wins, then the longer one. A match that
    later proves impossible (31/02/2026) still keeps its span: an impossible date is not a
    date, and must not be re-read as the month-year hiding inside it.
    """
    found: list[RawMatch] = []
    for form, pattern in _patterns(text, keyword_ends):
        loose_year = form is Form.MONTH_YEAR
        for match in pattern.finditer(text):
            start = match.start()
            # Most matches stand after a space or a line start: kept without a call.
            before = text[start - 1] if start else " "
            if (before == " " or before == "\n") and not (loose_year and match["s"] == " "):
                found.append(RawMatch(start, match.end(), form, match))
                continue
            if _keeps(text, match, form, keyword_ends):
                found.append(RawMatch(start, match.end(), form, match))
                continue
            # A match glued to a word is dropped, and the text searched again from its second
            # character: in "4A7 11 09 2027" the shape "7 11 09" belongs to the code 4A7, and the
            # date 11 09 2027 starts inside it. Most lines need no second search.
            position = start + 1
            while (again := pattern.search(text, position)) is not None:
                position = again.start() + 1
                if _keeps(text, again, form, keyword_ends):
                    found.append(RawMatch(again.start(), again.end(), form, again))
                    position = max(position, again.end())
            break
    if keyword_ends:
        found = _repairs_kept(text, found, repair_ends)
    if found and found[-1].groups.re is _CANADIAN_PATTERN[1]:  # it runs last, on few labels
        found = [match for match in found if _canadian_kept(text, match, keyword_ends)]
    if len(found) < 2:
        return found
    for match in found[:]:
        if match.form is Form.TRIPLE and match.end < len(text) and text[match.end].isdigit():
            # A year glued to the digits after it (see _LAST): the next column may start there,
            # though a date's first digit may not follow a digit elsewhere ("...202601/04/2027").
            glued = _glued_after(text, match.end)
            if glued is not None:
                found.append(glued)
    found.sort(key=_first_then_longest)
    kept = [found[0]]
    last_end = found[0].end
    for match in found:
        # Sorted by start, and no match is empty: it overlaps the last kept one exactly when it
        # starts before that one's end (``RawMatch.overlaps``, without a call per match).
        if match.start >= last_end:
            kept.append(match)
            last_end = match.end
    return kept
