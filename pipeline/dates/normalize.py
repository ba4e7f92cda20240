"""OCR text to a form the patterns can read, one character for one character.

Every step maps one input character to exactly one output character (a 1 that OCR made of a
colon becomes the colon again), so a span found in the
normalised text is the same span of the caller's text (``ParsedDate.text`` is sliced from it).
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.dates.months import CODER_MONTHS, MONTH_PATTERN

__all__ = ["MAX_TEXT_CHARS", "fold", "normalize"]

# The parser reads at most this much of its input. A region's OCR lines are a few hundred
# characters; the cap bounds the work on hostile input whatever the patterns do.
MAX_TEXT_CHARS = 8192

# Letters OCR confuses with digits, and the digit each one stands for. Upper-case L is left out:
# it starts lot codes ("L250616") far more often than it stands for a one.
_CONFUSABLE = "OoIl|SBZ"
_AS_DIGIT = str.maketrans(_CONFUSABLE, "00111582")
# A whole run of digits and confusable letters that ``_repair_run`` may change: one holding both a
# digit and a confusable, or one of confusables only with a date separator beside it. Other runs
# (words, plain numbers) are left alone without a call into Python. The pattern opens with the
# run's first character and only then looks behind (the run starts there), so the engine skips
# ahead to candidate characters; every branch is a run of single-character classes, each tried
# once per run start, so matching is linear.
_RUN = re.compile(
    r"[0-9OoIl|SBZ](?<![0-9OoIl|SBZ][0-9OoIl|SBZ])"
    r"(?:(?<=[0-9])[0-9]*[OoIl|SBZ][0-9OoIl|SBZ]*"  # digits first, then a confusable
    r"|(?<=[OoIl|SBZ])(?:[OoIl|SBZ]*[0-9][0-9OoIl|SBZ]*"  # confusables first, then a digit
    r"|[OoIl|SBZ]*(?=[/.\-\\])"  # confusables only, a separator after
    r"|(?<=[/.\-\\][OoIl|SBZ])[OoIl|SBZ]*))"  # confusables only, a separator before
)
_DATE_SEPARATORS = "/.-\\"
# A coder's month glued to a day before it and a year after it ("30JUN27").
_MONTH_GLUED = re.compile(rf"(?:{'|'.join(CODER_MONTHS)})\d\d(?!\d)", re.IGNORECASE)


# A colon that OCR read as a 1, between a word and a separated date: "EXP124/03/2026" is
# "EXP:24/03/2026", "VAL105/2027" "VAL:05/2027" (a month and a four-digit year), since no date
# opens with a three-digit field. Opens with the literal 1, the
# look-behind after it, so the engine skips ahead to the ones.
_COLON_AS_ONE = re.compile(
    r"1(?<=[^\W\d_]1)(?=\d\d ?[./\-\\]{1,2} ?(?:\d\d? ?[./\-\\]{1,2} ?\d\d|(?:20|25)\d\d(?![\d:])))"
)
# A C between two digits is a 0 whose ring the print left open: dot-matrix and inkjet zeros
# often lack a dot or two, and OCR reads the gap as a C ("BBF:01-07-2C27", "15/C3/2027"). Only
# before a digit, after a digit or after a digit and a date separator: "5C" and "-1C/30F" are
# temperatures, "C12" and "REF-C12" codes.
_C_AS_ZERO = re.compile(r"C(?:(?<=\dC)|(?<=\d[./\-]C))(?=\d)")


# A dot that OCR wrote as another script's dot between two digits (the Chinese models' 。 and ·,
# the Japanese ・, the Korean ㆍ): a date's separator, "12·05·2027" is 12.05.2027. Not elsewhere:
# 。 ends a clause.
_OTHER_DOT = re.compile(r"[·•。｡∙⋅・･ㆍ‧](?<=\d.)(?=\d)")


# An "&" that OCR read as an 8 glued to the second date of a pair ("19/09/24 801/02/25" of Indian
# packs' "MFD & USE BY: 19/09/24 & 01/02/25", realworld3 002 in a 1024-pixel photo): after a whole
# date and a space, before a day, month and year (a date's field has at most two digits before a
# separator, so "801/02/25" is no date as it is).
_AMPERSAND_AS_EIGHT = re.compile(
    r"8(?:(?<=\d[./\-]\d\d 8)|(?<=\d[./\-]\d{4} 8))(?=\d\d?[./\-]\d\d?[./\-]\d\d(?:\d\d)?(?!\d))"
)


# A coder's month in capitals that OCR ran into the next column's lowercase words ("BB 02 JANace
# oil": 02 JAN beside an ingredients line; hard set v5 1000444): the case changes where the month
# ends, which upper-casing would hide, so the first lowercase letter becomes a space. Three
# capitals at a word's start, then two lowercase letters or more: "Market", "SuperMARket",
# "JANUARY" and "Oct" are left alone.
_MONTH_INTO_WORDS = re.compile(rf"(?<![A-Za-z])(?:{'|'.join(CODER_MONTHS)})(?=[a-z]{{2}})")


def _parted_month(text: str) -> str:
    """``text`` with a space for the first lowercase letter after each ``_MONTH_INTO_WORDS``."""
    ends = [match.end() for match in _MONTH_INTO_WORDS.finditer(text)]
    if not ends:
        return text
    chars = list(text)
    for end in ends:
        chars[end] = " "
    return "".join(chars)


def _is_letter(char: str) -> bool:
    return char.isalpha() and char not in _CONFUSABLE


def fold_char(char: str) -> str:
    """One character upper-cased, its accents stripped, a digit of any script as an ASCII digit.

    Only marks are stripped: a character whose compatibility decomposition holds more than a base
    and combining marks keeps its own letter (a Hangul syllable would lose its vowel, Thai SARA AM
    its vowel sign), so keywords of those scripts still match as written.
    """
    digit = unicodedata.decimal(char, None)
    if digit is not None:  # Arabic-Indic, Eastern Arabic-Indic, fullwidth, Devanagari ...
        return str(digit)
    decomposed = unicodedata.normalize("NFKD", char)
    if decomposed and all(unicodedata.combining(mark) for mark in decomposed[1:]):
        char = decomposed[0]
    return char.upper()[0]


class _Folded(dict[int, str]):
    """str.translate table: ``fold_char`` of each character, filled on demand."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = fold_char(chr(code))
        return folded


def fold(text: str) -> str:
    """``fold_char`` of every character (for tables of words written as labels print them)."""
    return text.translate(_FOLD)


_FOLD = _Folded()


# A month's name, as OCR wrote it (any case), after a day's separator ("IO/MAY/2027").
_MONTH_AT = re.compile(rf"(?:{MONTH_PATTERN})(?![^\W\d_])", re.IGNORECASE)


def _is_field(text: str, start: int, end: int, digits: str) -> bool:
    """Whether ``digits``, read from the letters ``text[start:end]``, are a field of a date: after a
    separator ("05/26/ZO", "VAL.S Julio"); before one and a digit or a month's name, a day, a month
    or a year ("IO/05/26", "IO/MAY/2027"). "BB.12.05.2027" and "BB/LOT" keep their BB (a keyword;
    88 is no day), "S.K.T" its S (Turkish SKT: no digit follows)."""
    if start and text[start - 1] in _DATE_SEPARATORS:
        return True
    if end + 1 < len(text) and (_is_digit_like(text[end + 1]) or _MONTH_AT.match(text, end + 1)):
        return len(digits) == 4 or (len(digits) <= 2 and int(digits) <= 31)
    return False


def _is_digit_like(char: str) -> bool:
    return char.isdigit() or char in _CONFUSABLE


def _repair_run(text: str, match: re.Match[str]) -> str:
    """The run with its confusable letters read as digits, where digits are expected.

    Digits are expected inside a run that holds a real digit ("2O26", "1O/05"), and at its edge
    when a single confusable stands there apart from any word ("O5", but not "LB1960922" or
    "BB2028"). A run without digits is repaired only when it sits between non-letters next to a
    date separator ("IO/05/26").
    """
    run = match.group()
    start, end = match.span()
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if not any(ch.isdigit() for ch in run):
        if _is_letter(before) or _is_letter(after):
            return run
        digits = run.translate(_AS_DIGIT)
        return digits if _is_field(text, start, end, digits) else run
    first = 0
    while not run[first].isdigit():
        first += 1
    last = len(run)
    while not run[last - 1].isdigit():
        last -= 1
    # One confusable at an edge is a digit ("O5/06"); two or more are a word ("BB20281030"). Not
    # after six or eight digits: that is a compact date with a printer's suffix ("130527B"). After
    # seven it is a digit ("2032092S" is 20320925): a six-digit date's shift code "1B" is lost.
    # Not where the field would grow past a date's: "B28.09.23" (a Cyrillic Ve before the day) is
    # 28.09.23, never 828.09.23; a field before a date separator holds 1, 2 or 4 digits.
    if (
        first == 1
        and not _is_letter(before)
        and not (after in _DATE_SEPARATORS and last == len(run) and last in (3, 5))
    ):
        first = 0
    # Nor after two or four digits: a date's last field with a code letter glued to it ("USED BY
    # MAR 07 23S", a US coder's plant letter: realworld2 010; "SEP 17 2028B"), which as a digit
    # would make a field of three or five, no date's.
    kept = last - first in (2, 4, 6, 8) and run[first:last].isdigit()
    # Nor before a letter, unless a coder's month starts there: "3OJUN27" is 30JUN27 (a dot-matrix
    # zero read as an O), "BB2028O" a code.
    glued_month = last == len(run) - 1 and _MONTH_GLUED.match(text, end) is not None
    if last == len(run) - 1 and (not _is_letter(after) or glued_month) and not kept:
        last = len(run)
    return run[:first] + run[first:last].translate(_AS_DIGIT) + run[last:]


def normalize(text: str) -> str:
    """Repairs digit confusions, upper-cases and strips accents, keeping every position.

    Args:
        text: OCR text, already cut to ``MAX_TEXT_CHARS``.

    Returns:
        A string of the same length as ``text``.
    """
    if not text.isascii():
        text = _OTHER_DOT.sub(".", text)
    text = _RUN.sub(lambda match: _repair_run(text, match), text)
    text = _parted_month(text)
    # ``fold_char`` of an ASCII character is its upper case (no digit of another script, no
    # accent): most lines take str.upper, many times faster than a translate through the table.
    text = text.upper() if text.isascii() else text.translate(_FOLD)
    if "C" in text:
        text = _C_AS_ZERO.sub("0", text)
    if "8" in text:
        text = _AMPERSAND_AS_EIGHT.sub("&", text)
    return _COLON_AS_ONE.sub(":", text) if "1" in text else text
