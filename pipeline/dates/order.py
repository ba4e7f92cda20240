"""The day/month/year order a label uses, from its own evidence, when the caller gives none.

Where the rules come from: labels print a legend of the order beside the date where the market
expects it ("DD/MM/YY", "(D/M/Y)", Thai "(ว/ด/ป)" for วัน/เดือน/ปี, day/month/year, Japanese
"(y年/m月/d日)"), and Korean, Japanese and Chinese dates are written year first (KS X ISO 8601
practice, JIS X 0301, GB/T 7408), two-digit years included ("유통기한 28.01.09"). A legend is the
stronger evidence: it is printed for this date. A script is weaker (a brand in kanji on a Thai
label, a Thai glyph OCR read as an ideograph): ``parser.py`` lets the label's dates overrule it
when read year last they are plausible and read year first they are not, and overrule the
default order where it reads fewer dates than the other end (270305: day first its year is 2005).
Day or month first needs no rule here: a date that only reads the other way is read that way
already (``reading.py``).
"""

from __future__ import annotations

import re

from pipeline.types import DateOrder

__all__ = ["legend_order", "market_order", "year_first_script"]

# One field of a legend: D, DD, M, MM, Y..YYYY; Thai ว(วัน) ด(เดือน) ป(ปี); 日 月 年 (with y/m/d).
_FIELDS = {"D": "D", "ว": "D", "日": "D", "M": "M", "ด": "M", "月": "M", "Y": "Y", "ป": "Y", "年": "Y"}
# "DO" and "OD": a day field whose second D OCR read as an O ("BEST BEFORE:DOMMYY" for DDMMYY,
# dot-matrix legends especially); an O is no other field's letter, so a legend stays three fields.
# Before "DD?", so that "DO" is read as the one field it is.
_FIELD_FORMS = (
    "D日",
    "DO",
    "OD",
    "DD?",
    "M月",
    "MM?",
    "Y年",
    "YY?Y?Y?",
    "年",
    "月",
    "日",
    "วัน",
    "ว",
    "เดือน",
    "ด",
    "ปี",
    "ป",
)
_FIELD = "(?:" + "|".join(_FIELD_FORMS) + ")"
_SEP = r"[ ./\-]{0,2}"
# A legend is three fields, not inside a word. Each branch opens with its first field's first
# character, the look-behind after it, so the engine skips to the characters a legend starts with.
_LEGEND = re.compile(
    "|".join(
        f"{form[0]}(?<![^\\W\\d_]{form[0]}){form[1:]}{_SEP}{_FIELD}{_SEP}{_FIELD}(?![^\\W\\d_])"
        for form in _FIELD_FORMS
    )
)
_FIELD_AT = re.compile(_FIELD)
# Hangul syllables, kana and CJK ideographs: scripts whose dates are written year first.
_YEAR_FIRST_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
_ORDERS = {"DMY": DateOrder.DMY, "MDY": DateOrder.MDY, "YMD": DateOrder.YMD, "YDM": DateOrder.YMD}
# Date phrases of the United States' market, whose numeric dates are month first: "Best if used
# by" is the phrase the USDA (FSIS, "Food Product Dating") and the FDA ask food makers to use,
# "Sell by" and "Use or freeze by" are US retail practice, "Best by" its common short form. The
# UK's and the EU's phrases ("Use by", "Best before", "Display until") are not here: they print
# day first; Canada's print year first (``canadian``).
# The phrase must label a numeric date with slashes, hyphens or spaces right after it (a colon or a
# line break between): "Rated best by Which?" or "Best by nature" over a UK "Best before 05.06.27"
# label nothing, and dots are a day-first sign (US coders print / - or spaces: "Best by: 12.06.2027"
# on an export pack is 12 June). US coders' MMDDYY(YY) without separators counts too ("BEST BY 123127";
# a DDMMYY that cannot be month first is still read day first, reading.py), split by a space too
# ("BEST BY 0510 2027", patterns.py). "If used by" is
# enough without its "Best": OCR garbles a line's first word more than the others ("2ST IF USED BY
# 10/05/22" on a tub's rim, realworld2 009), and reads the I of "IF" as a 1 or an L ("EST 1F USED BY",
# the same rim in a smaller photo).
_US_PHRASE = re.compile(
    r"(?:\bBEST ?(?:[I1L]F ?USED ?)?BY|\bBEST ?[I1L]F ?USED ?BEFORE|\b[I1L]F ?USED ?(?:BY|BEFORE)|\bSELL ?BY"
    r"|\bUSE ?OR ?FREEZE ?BY)"
    r"[ :\-\n]{0,4}(?:\d{1,2}([/\- ])\d{1,2}\1\d{2}|\d{6}(?:\d\d)?(?![\d.])|\d{4} \d{4}(?![\d.]))"
)


def _field(token: str) -> str:
    """D, M or Y for a legend field ("m月" is named by its last character, "เดือน" by its
    consonant after the leading vowel, the others by their first)."""
    if token[-1] in "年月日":
        return _FIELDS[token[-1]]
    if token in ("DO", "OD"):
        return "D"
    return _FIELDS[token.lstrip("เ")[0]]


def legend_order(text: str) -> DateOrder | None:
    """The order a printed legend gives (``text`` normalised), or None."""
    if text.isascii() and not ("Y" in text and "M" in text and "D" in text):
        return None  # most lines: no legend can be there
    for match in _LEGEND.finditer(text):
        fields = "".join(_field(token) for token in _FIELD_AT.findall(match.group()))
        order = _ORDERS.get(fields)
        if order is not None:
            return order
    return None


def market_order(text: str) -> DateOrder | None:
    """MDY when ``text`` (normalised: upper case) holds a date phrase of the US market right
    before a numeric date ("BEST IF USED BY 06-03-2024" is 3 June), else None. A guess, as a
    script is: the label's own dates overrule it (``parser.py``: "BEST BY 28/05/2024" reads only
    day first, and is read so)."""
    # Most lines hold neither word: no pattern scan for them.
    if ("BY" in text or "BEFORE" in text) and _US_PHRASE.search(text) is not None:
        return DateOrder.MDY
    return None


# Canada's date phrases (see patterns.py): its Food and Drug Regulations print a best-before date
# year first, then month, then day (B.01.007; "MEILLEUR AVANT 27 05 15" is 15 May 2027).
CANADIAN_PHRASE = re.compile(r"MEILLEUR ?AVANT|EMBALLE ?LE|BB ?/ ?MA(?![A-Z])")


def canadian(text: str) -> bool:
    """Whether ``text`` (normalised) holds a Canadian date phrase: weak evidence of year-first dates,
    as a year-first script is (the label's dates may overrule it: an export pack's 15.05.27)."""
    return ("MEILLEUR" in text or "EMBALLE" in text or "/MA" in text or "/ MA" in text) and bool(
        CANADIAN_PHRASE.search(text)
    )


def year_first_script(text: str) -> bool:
    """Whether ``text`` holds Hangul, kana or CJK ideographs, whose dates are written year first.

    Weaker evidence than a legend: a stray ideograph (a brand, OCR's reading of a Thai glyph) does
    not make a Thai label's 200826 year first, so the parser weighs this against the dates.
    """
    return not text.isascii() and _YEAR_FIRST_SCRIPT.search(text) is not None
