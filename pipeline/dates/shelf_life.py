# ruff: noqa: RUF001, RUF003  (words of other scripts are meant, not look-alikes)
"""Shelf life: an expiry date printed as a time from the production date.

Much of the world's packaging prints no expiry date at all, only the production date and how long
the food keeps: India's and Pakistan's "BEST BEFORE 9 MONTHS FROM PACKAGING" beside "PKD 12/01/2024"
(FSSAI's labelling rules allow either), China's "保质期: 12个月" beside "生产日期 2026-05-12" (GB 7718),
Russia's "Срок годности 12 мес.", Korea's "제조일로부터 12개월", Brazil's "VALIDADE: 12 MESES",
Vietnam's "HSD: 24 THÁNG KỂ TỪ NSX", Turkey's "Üretim tarihinden itibaren 24 ay". The expiry date is
then the production date plus that time, and a reader that answers nothing (or the production date)
has missed the one date the label gives.

A shelf life is read only where a term says it is one (an expiry term or a shelf-life term before the
time, or a term for "from production" before or after it). Times counted from opening or purchase
("USE WITHIN 3 DAYS OF OPENING", "開封後") are no shelf life. The text is the parser's normalised
text (upper case, no accents), so spans are the caller's.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import re
from dataclasses import dataclass

from pipeline.dates.wordtree import word_tree
from pipeline.types import DatePrecision

__all__ = ["ShelfLife", "Unit", "expires", "find_shelf_life"]


class Unit(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class ShelfLife:
    """A time printed as a shelf life, and where: ``text[start:end]`` is the phrase."""

    amount: int
    unit: Unit
    start: int
    end: int
    # The phrase itself says the time counts from production or packing ("FROM MFG",
    # "제조일로부터", "保质期"), not only that it is a shelf life ("SHELF LIFE: 18 MONTHS").
    from_production: bool = False


# The longest shelf life read, per unit: canned food keeps for years, not decades.
_MOST = {Unit.DAY: 3660, Unit.WEEK: 520, Unit.MONTH: 120, Unit.YEAR: 10}

_UNITS = {
    Unit.MONTH: "MONTHS|MONTH|MTHS|MTH|MOS|MESES|MES|MESI|MOIS|MONATE|MONAT|BULAN|THANG|AY|AYDIR|МЕСЯЦЕВ"
    "|МЕСЯЦА|МЕСЯЦ|МЕС|个月|個月|月|ヶ月|か月|カ月|ケ月|개월|شهرا|شهر|شهور|اشهر",
    Unit.DAY: "DAYS|DAY|DIAS|GIORNI|JOURS|TAGE|HARI|NGAY|GUN|СУТОК|СУТ|ДНЕЙ|ДНЯ|天|日|일|يوما|يوم|ايام",
    Unit.WEEK: "WEEKS|WEEK|WKS|SEMANAS|SETTIMANE|SEMAINES|WOCHEN|MINGGU|TUAN|HAFTA|НЕДЕЛЬ|НЕДЕЛИ|周|週|주",
    Unit.YEAR: "YEARS|YEAR|YRS|ANOS|ANNI|ANS|JAHRE|TAHUN|NAM|YIL|ЛЕТ|ГОДА|ГОД|年|년|سنوات|سنة|سنه",
}
_UNIT_OF = {word: unit for unit, words in _UNITS.items() for word in words.split("|")}
_NUMBER_WORDS = {
    "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5, "SIX": 6, "SEVEN": 7, "EIGHT": 8, "NINE": 9,
    "TEN": 10, "ELEVEN": 11, "TWELVE": 12, "FIFTEEN": 15, "EIGHTEEN": 18, "TWENTY": 20,
    "TWENTY FOUR": 24, "THIRTY": 30, "THIRTY SIX": 36, "SIXTY": 60, "NINETY": 90,
}  # fmt: skip
_CJK_DIGITS = dict(zip("一二两兩三四五六七八九", (1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_NUMBER = (
    r"(?P<n>\d{1,4}|"
    + "|".join(sorted((word.replace(" ", "[ -]") for word in _NUMBER_WORDS), key=len, reverse=True))
    + r"|[一二两兩三四五六七八九十]{1,3})"
)
# Terms before the time that make it a shelf life on their own ("BEST BEFORE 12 MONTHS",
# "保质期12个月", "SHELF LIFE: 18 MONTHS"). A space stands for any short gap OCR leaves
# ("BESTBEFORE"), as in keywords.py.
_LIFE_TERMS = (
    "BEST BEFORE|BEST BY|EXPIRY|EXPIRES|EXPIRE|EXPIRATION|EXP|SHELF LIFE"
    "|VALIDADE|VAL|VALIDO|PRAZO DE VALIDADE|VIDA UTIL|CADUCIDAD"
    "|CONSUMIR ANTES DE|CONSUMIR PREFERENTEMENTE ANTES DE"
    "|DUREE DE CONSERVATION|DLUO|DDM|A CONSOMMER DE PREFERENCE|HALTBARKEIT|MINDESTENS HALTBAR"
    "|MASA SIMPAN|KADALUARSA|KEDALUWARSA|BAIK DIGUNAKAN SEBELUM|HSD|HAN SU DUNG|TETT|RAF OMRU"
    "|СРОК ГОДНОСТИ|СРОК ХРАНЕНИЯ|ГОДЕН|ГОДНО"
    "|유통기한|소비기한|مدة الصلاحية|الصلاحية|صالح لمدة|صالحة لمدة|صالح"
)
# China's and Taiwan's shelf-life terms, which count from the production date by law (GB 7718:
# "保质期" with "生产日期"): a date beside them is the production date even unlabelled.
_PRODUCTION_LIFE_TERMS = "保质期|保質期|保存期|保存期限"
# Terms that make it one only with a production term after it ("USE WITHIN 6 MONTHS OF
# MANUFACTURE"; alone, "USE WITHIN 3 DAYS" is mostly once opened, "VALID FOR 30 DAYS" an offer;
# Brazil's "VAL: 12 MESES" is a shelf life, above).
_WITHIN_TERMS = (
    "USE BY|USE BEFORE|USE WITHIN|CONSUME WITHIN|CONSUME BEFORE|CONSUME BY|BEST WITHIN|BEST IF USED WITHIN"
    "|VALID|ENTRO|CONSUMARE ENTRO"
)
# "From production", after the time ("FROM THE DATE OF MANUFACTURE", "KE TU NSX")...
_FROM_PRODUCTION = (
    r"(?:FROM|AFTER|OF|SINCE|A PARTIR DA|A PARTIR DE|APOS A|APOS|DESDE LA|DESDE|DE LA|DA|SUIVANT LA|APRES LA"
    r"|APRES|AB|DALLA|DAL|DARI|SETELAH|KE TU|С)\s*(?:THE\s*)?(?:DATE\s*OF\s*|DATA\s*DE\s*|DATA\s*DI\s*"
    r"|FECHA\s*DE\s*|DATE\s*DE\s*|TANGGAL\s*|NGAY\s*|ДАТЫ\s*)?"
    r"(?:MANUFACTURING|MANUFACTURE|MANUFACTURED|MFG|MFD|MFR|PRODUCTION|PROD|PACKAGING|PACKAGED|PACKING"
    r"|PACKED|PKD|PKG|FABRICACAO|FABRICACION|FABRICATION|PRODUCAO|PRODUCCION|PRODUZIONE|CONFEZIONAMENTO"
    r"|ELABORACION|ENVASE|HERSTELLUNG|PRODUKTION|PRODUKSI|PEMBUATAN|SAN XUAT|NSX|ИЗГОТОВЛЕНИЯ|ПРОИЗВОДСТВА"
    r"|ВЫРАБОТКИ)(?![A-Z])"
    r"|(?:من\s*)?تاريخ\s*(?:الانتاج|الصنع|التصنيع)"
)
# ...and before it ("제조일로부터 12개월", "ÜRETİM TARİHİNDEN İTİBAREN 24 AY", "生产之日起12个月").
_PRODUCTION_FROM = (
    "제조일로부터|제조일자로부터|제조일부터|생산일로부터|URETIM TARIHINDEN|URETIM TARIHINDEN ITIBAREN"
    "|URETIMDEN ITIBAREN|生产之日起|生產之日起|自生产日期起|生产日起|生產日起|製造日起|制造日起|製造日より"
    "|製造日から|С ДАТЫ ИЗГОТОВЛЕНИЯ|С ДАТЫ ПРОИЗВОДСТВА"
)


def _spaced(char: str) -> bool:
    """A letter of a script written with spaces between words (Latin, Cyrillic), whose terms must
    not start inside a word; Chinese, Japanese and Korean write none ("未开封保质期")."""
    return char.isalpha() and (char.isascii() or "\u0400" <= char <= "\u04ff")


def _terms(words: str) -> str:
    """``words`` (``|`` between them) as a word tree (see keywords.py)."""
    return word_tree(words.split("|"), _spaced)


# Between the term and the time: marks, at most two small words ("IS", "UP TO", "НЕ БОЛЕЕ"), and
# on Chinese labels a storage condition ("保质期：常温12个月", "保质期：0-4℃冷藏21天").
_GAP = (
    r"[\s:.\-=：为為]{0,4}"
    r"(?:\([^)\n]{1,16}\)[\s:]{0,3})?"  # "SHELF LIFE (UNOPENED): 24 MONTHS"
    r"(?:(?:IS|ARE|OF|FOR|POR|WITHIN|UP TO|ATE|HASTA|DANS LES|LA|DE|НЕ БОЛЕЕ|СОСТАВЛЯЕТ)\s{1,2}){0,2}"
    r"(?:(?:-?\d{1,2}\s?[-~～至]\s?)?\d{1,2}\s?[℃°]C?)?(?:(?![一二两兩三四五六七八九十至到])[\u4e00-\u9fff、]){0,8}"
)
_UNIT_TREE = word_tree(_UNIT_OF)
_TIME = _NUMBER + r"\s{0,2}(?P<unit>" + _UNIT_TREE + r")(?![A-ZА-Я])"
_SHELF_LIFE = re.compile(
    rf"(?:{_terms(_LIFE_TERMS)}|(?P<within>{_terms(_WITHIN_TERMS)})"
    rf"|(?P<produced>{_terms(_PRODUCTION_FROM + '|' + _PRODUCTION_LIFE_TERMS)})){_GAP}{_TIME}"
    rf"(?P<from>\s{{0,3}}[,.]?\s{{0,3}}(?:{_FROM_PRODUCTION}))?"
)
# The time before its term: "MFG 05/2026 12 MONTHS SHELF LIFE", "18 MESES DE VALIDADE".
_TIME_THEN_TERM = re.compile(
    rf"(?<![\w.,/]){_TIME}\s{{0,2}}(?:OF\s|DE\s)?\s?(?:SHELF ?LIFE|VALIDADE|VIDA UTIL|СРОК ГОДНОСТИ)(?![A-Z])"
)
# What every time holds, searched first: most text with a date holds none (12/05/2026, L2345 12:30,
# 12 MAY) and is passed over at a fraction of the phrase's cost. Each opens with a character class,
# which the engine skips ahead to; numbers spelled in English come with an English unit.
_DIGIT_TIME = re.compile(r"\d\s{0,2}(?:" + _UNIT_TREE + ")")
_CJK_TIME = re.compile(r"[一二两兩三四五六七八九十]\s{0,2}[个個月天日年周週ヶか]")
_ENGLISH_UNITS = ("MONTH", "MTH", "YEAR", "DAY", "WEEK")
# A time counted from opening or purchase is how long an opened pack keeps, not a shelf life; one
# "unopened" or "before opening" is the shelf life itself.
_OPENED = re.compile(
    r"OPEN|ABERT|ABRIR|APERTUR|OUVERT|GEOFFNET|OFFNEN|DIBUKA|KHUI|ВСКРЫТ|ОТКРЫТ|PURCHASE|开封|開封|开启|개봉|فتح"
)
# Nor is a guarantee's or a warranty's time ("GUARANTEE VALID FOR 24 MONTHS FROM MANUFACTURE").
_WARRANTY = re.compile(r"GUARANTEE|WARRANTY|GARANTIA|GARANTIE|GARANZIA|ГАРАНТИ|保修|质保期?(?!\d)|보증")
_UNOPENED = re.compile(
    r"UNOPENED|BEFORE OPENING|NOT OPENED|ANTES DE ABRIR|AVANT OUVERTURE|VOR DEM OFFNEN|未开封|未開封|开封前"
    r"|開封前|개봉 ?전|ДО ВСКРЫТИЯ"
)
# Where a phrase's clause ends: an opening word in the next sentence ("... FROM MFG. ONCE OPENED USE
# WITHIN 6 WEEKS", "开封后请尽快食用" after a comma) is that sentence's.
_CLAUSE_END = re.compile(r"\n|[。，；;,、]|\.\s")
# After the phrase, Chinese text also starts its next clause after a space ("保质期:12个月
# 开封后请冷藏").
_CLAUSE_AFTER = re.compile(rf"{_CLAUSE_END.pattern}|\s(?=[\u4e00-\u9fff])")


def find_shelf_life(text: str) -> ShelfLife | None:
    """The shelf life printed in ``text`` (normalised: upper case, no accents), if one is.

    Returns ``None`` when none is printed, when two differ (a pack of several products: the
    time of which is not known), or when the phrase counts from opening or purchase.
    """
    if (
        _DIGIT_TIME.search(text) is None
        and _CJK_TIME.search(text) is None
        and not any(unit in text for unit in _ENGLISH_UNITS)
    ):
        return None
    found: ShelfLife | None = None
    for match in (*_SHELF_LIFE.finditer(text), *_TIME_THEN_TERM.finditer(text)):
        if _not_a_shelf_life(text, match.start(), match.end()):
            continue
        groups = match.groupdict()
        from_production = groups.get("from") is not None or groups.get("produced") is not None
        if groups.get("within") is not None and not from_production:
            continue  # "USE WITHIN 3 DAYS": of opening, most often
        amount = _amount(match.group("n"))
        unit = _UNIT_OF[match.group("unit")]
        if amount is None or not 1 <= amount <= _MOST[unit]:
            continue
        life = ShelfLife(amount, unit, match.start(), match.end(), from_production)
        if found is not None and (found.amount, found.unit) != (amount, unit):
            return None
        found = found or life
    return found


def _not_a_shelf_life(text: str, start: int, end: int) -> bool:
    """Whether the clause that holds ``text[start:end]`` counts it from opening or purchase, or
    is a warranty's."""
    before = max((match.end() for match in _CLAUSE_END.finditer(text, 0, start)), default=0)
    after = _CLAUSE_AFTER.search(text, end)
    clause = text[before : len(text) if after is None else after.start()]
    if _WARRANTY.search(clause) is not None:
        return True
    return _OPENED.search(clause) is not None and _UNOPENED.search(clause) is None


def expires(made: dt.date, precision: DatePrecision, life: ShelfLife) -> dt.date | None:
    """The last day a product made on ``made`` keeps, ``life`` after it: the same day ``amount``
    months or years on (the month's last day where that month is shorter: 31 Jan + 1 month is 28
    or 29 Feb), or ``amount`` days or weeks on. A MONTH-precision ``made`` (its month's last day)
    gives its month ``amount`` months on, at that month's last day; days and weeks after a month
    give ``None`` (which day is not known).
    """
    if life.unit is Unit.DAY or life.unit is Unit.WEEK:
        if precision is DatePrecision.MONTH:
            return None
        days = life.amount * (7 if life.unit is Unit.WEEK else 1)
        try:
            return made + dt.timedelta(days=days)
        except OverflowError:
            return None
    months = life.amount * (12 if life.unit is Unit.YEAR else 1)
    year, month = divmod(made.month - 1 + months, 12)
    year += made.year
    if year > dt.MAXYEAR:
        return None
    last = calendar.monthrange(year, month + 1)[1]
    day = last if precision is DatePrecision.MONTH else min(made.day, last)
    return dt.date(year, month + 1, day)


def _amount(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    spelled = _NUMBER_WORDS.get(word.replace("-", " "))
    if spelled is not None:
        return spelled
    return _chinese_number(word)


def _chinese_number(word: str) -> int | None:
    """十 10, 十八 18, 二十 20, 二十四 24, 六 6; anything else ``None``."""
    if "十" not in word:
        return _CJK_DIGITS.get(word) if len(word) == 1 else None
    tens, _, ones = word.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = _CJK_DIGITS.get(tens) if tens else 1
    low = _CJK_DIGITS.get(ones) if ones else 0
    if high is None or low is None:
        return None
    return high * 10 + low
