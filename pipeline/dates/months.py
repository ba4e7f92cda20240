# ruff: noqa: RUF001, RUF002  (words and digits of other scripts are meant, not look-alikes)
"""Month names, full and abbreviated, as labels print them, accents stripped and upper case.

Where they come from: the month names of each language's standard calendar (CLDR "wide" and
"abbreviated" forms, in both the nominative and, for Polish and Russian, the genitive a date uses:
"14 MARCA 2027", "14 МАРТА 2027"), plus the abbreviations seen on packaging that CLDR does not
give (FEVR, JUIL, MRZ, SBT, AGT, AGS, NOP, СЕНТ), and Malay's (JULAI, OGOS, DISEMBER; not OGO,
whose zeros read "500G01/2026" as a month, nor MAC and DIS, which read "BIG MAC 2 25" and "DIS 25 %"
as dates). Thai months as labels abbreviate them, with and
without the last dot (พ.ย., พ.ย), and in full. Vietnamese months are numbers ("tháng 12"), so
Vietnamese labels print numeric dates, read by the numeric patterns.
"""

from __future__ import annotations

from pipeline.dates.wordtree import word_tree

__all__ = ["CODER_MONTHS", "LOST_LETTER_MONTHS", "MONTH_AT_WORD_START", "MONTH_PATTERN", "month_number"]

# One row per month; one group of words per language, separated by " | ".
_MONTH_WORDS = (
    "JAN JANUARY | JANEIRO | ENE ENERO | JANV JANVIER | JANUAR JAN | GEN GENNAIO | JANUARI"
    " | OCA OCAK | STY STYCZEN STYCZNIA | ЯНВ ЯНВАРЬ ЯНВАРЯ | ม.ค. ม.ค มกราคม",
    "FEB FEBRUARY | FEV FEVEREIRO | FEBRERO | FEVR FEVRIER | FEBRUAR | FEBBRAIO | FEBRUARI"
    " | SUB SBT SUBAT | LUT LUTY LUTEGO | ФЕВ ФЕВР ФЕВРАЛЬ ФЕВРАЛЯ | ก.พ. ก.พ กุมภาพันธ์",
    "MAR MARCH | MARCO | MARZO | MARS | MARZ MRZ | MAART MRT | MARET | MART | MARZEC MARCA"
    " | МАР МАРТ МАРТА | มี.ค. มี.ค มีนาคม",
    "APR APRIL | ABR ABRIL | AVR AVRIL | APRILE | NIS NISAN | KWI KWIECIEN KWIETNIA | АПР АПРЕЛЬ АПРЕЛЯ"
    " | เม.ย. เม.ย เมษายน",
    "MAY | MAI MAIO | MAYO | MAG MAGGIO | MEI | MAYIS | MAJ MAJA | МАИ МАЯ | พ.ค. พ.ค พฤษภาคม",
    "JUN JUNE | JUNHO | JUNIO | JUIN | JUNI | GIU GIUGNO | HAZ HAZIRAN | CZE CZERWIEC CZERWCA"
    " | ИЮН ИЮНЬ ИЮНЯ | มิ.ย. มิ.ย มิถุนายน",
    "JUL JULY | JULHO | JULIO | JUIL JUILLET | JULI | JULAI | LUG LUGLIO | TEM TEMMUZ | LIP LIPIEC LIPCA"
    " | ИЮЛ ИЮЛЬ ИЮЛЯ | ก.ค. ก.ค กรกฎาคม",
    "AUG AUGUST | AGO AGOSTO | AOUT | AUGUSTUS | AGU AGT AGS AGUSTUS | OGOS | AGUSTOS | SIE SIERPIEN SIERPNIA"
    " | АВГ АВГУСТ АВГУСТА | ส.ค. ส.ค สิงหาคม",
    "SEP SEPT SEPTEMBER | SET SETEMBRO | SEPTIEMBRE SETIEMBRE | SEPTEMBRE | SETTEMBRE | EYL EYLUL"
    " | WRZ WRZESIEN WRZESNIA | СЕН СЕНТ СЕНТЯБРЬ СЕНТЯБРЯ | ก.ย. ก.ย กันยายน",
    "OCT OCTOBER | OUT OUTUBRO | OCTUBRE | OCTOBRE | OKT OKTOBER | OTT OTTOBRE | EKI EKIM"
    " | PAZ PAZDZIERNIK PAZDZIERNIKA | ОКТ ОКТЯБРЬ ОКТЯБРЯ | ต.ค. ต.ค ตุลาคม",
    "NOV NOVEMBER | NOVEMBRO | NOVIEMBRE | NOVEMBRE | NOP | KAS KASIM | LIS LISTOPAD LISTOPADA"
    " | НОЯ НОЯБ НОЯБРЬ НОЯБРЯ | พ.ย. พ.ย พฤศจิกายน",
    "DEC DECEMBER | DEZ DEZEMBRO | DIC DICIEMBRE | DECEMBRE | DEZEMBER | DICEMBRE | DES DESEMBER"
    " | DISEMBER | ARA ARALIK | GRU GRUDZIEN GRUDNIA | ДЕК ДЕКАБРЬ ДЕКАБРЯ | ธ.ค. ธ.ค ธันวาคม",
)
_NUMBERS = {
    word: month
    for month, words in enumerate(_MONTH_WORDS, start=1)
    for word in words.replace("|", " ").split()
}
# Letters that dot-matrix and inkjet print leave looking like digits, as OCR then reads them in a
# coder's month (JAN ... DEC, what coders print): AU6, FE8, DE0, JU1, O0T (hard set v2's "30 De0
# 2026"; bench/RESULTS.md, "seventh session"), after the first letter (a first letter read as a
# digit would join the number before it: "125EP" is no month). Only these twelve: every word of
# every language so spelled makes codes months ("KA5" for Turkish KAS, "A60" for AGO). The O read
# as a zero, in every month word and anywhere in it (N0V, 0CT), is ``word_tree``'s
# ``zero_for_o``. A spelling that ends in such a digit is no month before another digit, except
# glued between a two-digit day and a two-digit year ("MHD 10FE829", dot-matrix FEB: hard set v5
# 1000113): "15MAR26" is March 2026, not "MAR2" and a 6; "JU1234", "AU926" and "3DE026" (a code,
# or "23DE026" cut: the second chance may read the day) are no months, nor "Au92026" (what is left
# of "24 Au9 2026" whose day and space the read lost, hard set v5 1000071: read as August, it
# would end the reading that finds the day). The keywords (a coder's E glued to its month) and the
# patterns (a US coder's MMMDDYY) use these twelve too.
CODER_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# The digits each letter is read as: a dot-matrix G is a 6 or, its bar read as a loop, an 8 ("AU8
# 13 23" of AUG 13 23, inkjet on a US bag: realworld2 001); a lowercase g, its tail a 9's, a 9
# ("16 Au9 2026": hard set v4 980098; no case of the date corpus changes).
_READ_AS_DIGIT = {"C": "0", "G": "689", "B": "8", "L": "1"}
# And a U whose bottom the print leaves open, read as its two stems: "27ALIG2022" for 27AUG2022
# (inkjet on a US pouch), JLIN, JLIL.
_READ_AS_LETTERS = {"U": "LI"}


def _spellings(word: str) -> list[str]:
    """``word`` and every way of reading its look-alike letters (after the first) as digits, or
    as the letters OCR makes of them."""
    spellings = [word[0]]
    for letter in word[1:]:
        reads = (letter, *_READ_AS_DIGIT.get(letter, ""), _READ_AS_LETTERS.get(letter))
        spellings = [s + c for s in spellings for c in reads if c is not None]
    return spellings


_SPELLINGS = {
    **_NUMBERS,
    **{spelling: _NUMBERS[word] for word in CODER_MONTHS for spelling in _spellings(word)},
}
_ENDS = {
    spelling: r"(?:(?!\d)|(?<=\d\d...)(?=\d\d(?!\d)))" for spelling in _SPELLINGS if spelling[-1].isdigit()
}


def _zeros_for_o(spelling: str) -> list[str]:
    """``spelling`` with each of its O read as an O or a zero, as ``zero_for_o`` matches it."""
    found = [""]
    for char in spelling:
        found = [head + c for head in found for c in ((char, "0") if char == "O" else (char,))]
    return found


def _lost_letter_months() -> dict[str, int]:
    """Each coder month whose first letter is a J or an S, without it: "AN" is JAN, "UN" JUN, "UL"
    JUL, "EP" SEP. Those letters are the thinnest of the twelve months' first letters: a J is a
    hook of a few dots, an S a line of them bent twice, and print or OCR lose them first."""
    return {word[1:]: month for month, word in enumerate(CODER_MONTHS, start=1) if word[0] in "JS"}


# A coder's month (JAN ... DEC) printed glued between a day and a year, whose first letter the print
# or the OCR lost (see _lost_letter_months): "20UL2022" of 20JUL2022, inkjet on a US bottle
# (realworld2 020); "19EP28" of 19SEP28 (hard set v4 980137). Only the patterns of damaged shapes
# read them (patterns.py: glued to a day and a year, on a label with a keyword, and never where a
# whole month reads the same characters: "50CT27" is 5 OCT 27 with its O read as a zero): two
# letters are everywhere in other text ("NO", "DE", "SE").
LOST_LETTER_MONTHS = _lost_letter_months()

# Canada's bilingual month symbols, which its best-before and packaged-on dates must use, year
# (optional) then month then day: "BEST BEFORE / MEILLEUR AVANT 27 JA 15" (CFIA, "Date markings
# and storage instructions"; Food and Drug Regulations B.01.007). Two letters are everywhere in
# other text ("MA", "DE", "NO", "AU"): only the Canadian pattern reads them (patterns.py), and only
# on a label that holds a Canadian date phrase.
CANADIAN_MONTHS = {
    "JA": 1, "FE": 2, "MR": 3, "AL": 4, "MA": 5, "JN": 6,
    "JL": 7, "AU": 8, "SE": 9, "OC": 10, "NO": 11, "DE": 12,
}  # fmt: skip

# Every spelling the patterns match, to its month (month_number looks a match up here).
_MATCHED = {read: month for spelling, month in _SPELLINGS.items() for read in _zeros_for_o(spelling)}
_MATCHED.update(LOST_LETTER_MONTHS)
_MATCHED.update(CANADIAN_MONTHS)


def _is_letter(char: str) -> bool:
    return char.isalpha()


# Every month word, as a regex. MONTH_AT_WORD_START also requires that no letter comes before it.
MONTH_PATTERN = word_tree(_SPELLINGS, zero_for_o=True, ends=_ENDS)
MONTH_AT_WORD_START = word_tree(_SPELLINGS, _is_letter, zero_for_o=True, ends=_ENDS)


def month_number(name: str) -> int:
    """1..12 for a name ``MONTH_PATTERN`` matched."""
    return _MATCHED[name]
