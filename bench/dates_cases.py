"""Seeded generator of labelled expiry-label texts, for the parser's calibration bench and tests.

Each case is the text an OCR might read off a label: an expiry date in one of the printed formats,
maybe a keyword, maybe a manufacture date, a lot code, a time, and (when ``noisy``) the OCR slips
seen on real labels: digits read as letters, digits read as other digits, garbled keywords,
tokens glued together. The truth is the expiry date a careful reader would give.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DAY_FORMATS",
    "EXPIRY_KEYWORDS",
    "MONTH_FORMATS",
    "NOISE_WORDS",
    "LabelCase",
    "generate_cases",
    "month_end",
]

# Month names by language, full then abbreviated, indexed by month - 1.
_NAMES = {
    "pt": (
        [
            "janeiro",
            "fevereiro",
            "março",
            "abril",
            "maio",
            "junho",
            "julho",
            "agosto",
            "setembro",
            "outubro",
            "novembro",
            "dezembro",
        ],
        ["JAN", "FEV", "MAR", "ABR", "MAI", "JUN", "JUL", "AGO", "SET", "OUT", "NOV", "DEZ"],
    ),
    "en": (
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    ),
    "es": (
        [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        ["ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEP", "OCT", "NOV", "DIC"],
    ),
}

EXPIRY_KEYWORDS = (
    "VAL:", "VAL", "VAL.", "VALIDADE", "Validade:", "V:", "V.", "VENC", "VENCE:", "VENCIMENTO",
    "EXP", "EXP:", "EXPIRY", "Expires", "Best before", "BEST BEFORE", "BB", "BBE", "Use by",
    "USE BY", "CONSUMIR ATE", "Consumir antes de", "CAD", "CADUCIDAD:", "MHD",
)  # fmt: skip
_MANUFACTURE_KEYWORDS = ("FAB:", "FAB", "FABRICACAO", "F:", "MFG", "PROD", "P:", "ENV.", "EMB:")
# Words that surround dates on labels and hold nothing date-like.
NOISE_WORDS = (
    "KEEP REFRIGERATED", "PESO LIQ 500G", "INDUSTRIA BRASILEIRA", "LOTE 4A7", "L:AB12", "13:45",
    "08:05", "CONTÉM GLÚTEN", "SAC 0800", "H", "T2", "**", "MAQ:07", "Lot B7K",
)  # fmt: skip

Render = Callable[[dt.date, random.Random], str]


def month_end(date: dt.date) -> dt.date:
    """The last day of ``date``'s month: what a month-precision date stands for."""
    return date.replace(day=calendar.monthrange(date.year, date.month)[1])


def _month_name(month: int, rng: random.Random) -> str:
    full, short = _NAMES[rng.choice(sorted(_NAMES))]
    name = rng.choice((full, short))[month - 1]
    return rng.choice((name.upper(), name.lower(), name.capitalize()))


def _sep(rng: random.Random) -> str:
    return rng.choice("/.-\\ ")


DAY_FORMATS: dict[str, Render] = {
    "dd/mm/yyyy": lambda d, r: f"{d.day:02d}{(s := _sep(r))}{d.month:02d}{s}{d.year}",
    "dd/mm/yy": lambda d, r: f"{d.day:02d}{(s := _sep(r))}{d.month:02d}{s}{d.year % 100:02d}",
    "ddmmyy": lambda d, r: f"{d.day:02d}{d.month:02d}{d.year % 100:02d}",
    "ddmmyyyy": lambda d, r: f"{d.day:02d}{d.month:02d}{d.year}",
    "yyyy-mm-dd": lambda d, r: f"{d.year}{(s := r.choice('-.'))}{d.month:02d}{s}{d.day:02d}",
    "yyyymmdd": lambda d, r: f"{d.year}{d.month:02d}{d.day:02d}",
    "dd mon yyyy": lambda d, r: (
        f"{d.day:02d}{r.choice(('', ' ', '-', '/'))}{_month_name(d.month, r)}"
        f"{r.choice(('', ' ', '-', '/'))}{r.choice((str(d.year), f'{d.year % 100:02d}'))}"
    ),
    "dd de mes de yyyy": lambda d, r: f"{d.day} de {_month_name(d.month, r)} de {d.year}",
    "mon dd yyyy": lambda d, r: f"{_month_name(d.month, r)} {d.day:02d} {d.year}",
}
MONTH_FORMATS: dict[str, Render] = {
    "mm/yyyy": lambda d, r: f"{d.month:02d}{r.choice('/.-')}{d.year}",
    "mm/yy": lambda d, r: f"{d.month:02d}/{d.year % 100:02d}",
    "mmyyyy": lambda d, r: f"{d.month:02d}{d.year}",
    "mon/yy": lambda d, r: (
        f"{_month_name(d.month, r)}{r.choice(('', ' ', '/', '.'))}"
        f"{r.choice((str(d.year), f'{d.year % 100:02d}'))}"
    ),
}
# Printed without a year (read as the next such date, so the truth stays within the year ahead).
_NO_YEAR: Render = lambda d, r: f"{d.day}{r.choice(('', ' '))}{_month_name(d.month, r)}"  # noqa: E731

# OCR slips: a digit read as a look-alike letter (the parser repairs these), a digit read as
# another digit (nobody can repair these), a keyword garbled beyond recognition.
_AS_LETTER = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z"}
_AS_DIGIT = {"3": "8", "8": "3", "1": "7", "7": "1", "6": "5", "5": "6", "0": "8", "9": "0"}
_GARBLED = {"VAL:": "URL:", "VAL": "AL", "VALIDADE": "VALIDAOE", "EXP": "FXP", "V:": "Y:", "VENC": "VFNC"}


@dataclass(frozen=True, slots=True)
class LabelCase:
    """One generated label text, the reference date it is read against and its true expiry date."""

    text: str
    reference_date: dt.date
    expected: dt.date


def _slip(token: str, table: dict[str, str], rng: random.Random) -> str:
    positions = [i for i, ch in enumerate(token) if ch in table]
    if not positions:
        return token
    i = rng.choice(positions)
    return token[:i] + table[token[i]] + token[i + 1 :]


def _expiry_token(reference: dt.date, rng: random.Random) -> tuple[str, dt.date]:
    roll = rng.random()
    if roll < 0.1:
        expiry = reference + dt.timedelta(days=rng.randint(0, 300))
        return _NO_YEAR(expiry, rng), expiry
    expiry = reference + dt.timedelta(days=rng.randint(-400, 1500))
    if roll < 0.35:
        return MONTH_FORMATS[rng.choice(sorted(MONTH_FORMATS))](expiry, rng), month_end(expiry)
    return DAY_FORMATS[rng.choice(sorted(DAY_FORMATS))](expiry, rng), expiry


def _case(rng: random.Random, noisy: bool) -> LabelCase:
    reference = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 3650))
    expiry_text, expected = _expiry_token(reference, rng)
    keyword = rng.choice(EXPIRY_KEYWORDS) if rng.random() < 0.75 else ""
    if noisy and rng.random() < 0.06:
        expiry_text = _slip(expiry_text, _AS_DIGIT, rng)
    if noisy and rng.random() < 0.15:
        expiry_text = _slip(expiry_text, _AS_LETTER, rng)
    if noisy and rng.random() < 0.1:
        keyword = _GARBLED.get(keyword, keyword)
    # Glued only where OCR can still tell the words apart: "VAL:12/26", "VAL12/26", never "VALJUN".
    glued = keyword[-1:].isalpha() and expiry_text[:1].isalpha()
    parts = [f"{keyword}{' ' if glued else rng.choice(('', ' ', ' '))}{expiry_text}".strip()]
    if rng.random() < 0.5:
        made = expected - dt.timedelta(days=rng.randint(30, 720))
        made_text = DAY_FORMATS[rng.choice(("dd/mm/yyyy", "dd/mm/yy"))](made, rng)
        labelled = rng.random() < 0.85
        parts.insert(0, f"{rng.choice(_MANUFACTURE_KEYWORDS)} {made_text}" if labelled else made_text)
    for _ in range(rng.randint(0, 3)):
        parts.insert(rng.randint(0, len(parts)), rng.choice(NOISE_WORDS))
    glue = "" if noisy and rng.random() < 0.2 else rng.choice((" ", "\n", "  "))
    return LabelCase(glue.join(parts), reference, expected)


def generate_cases(count: int, seed: int, *, noisy: bool = True) -> list[LabelCase]:
    """``count`` cases from ``seed``; the same arguments always give the same cases."""
    rng = random.Random(seed)
    return [_case(rng, noisy) for _ in range(count)]
