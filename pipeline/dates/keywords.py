# ruff: noqa: RUF001  (words and digits of other scripts are meant, not look-alikes)
"""Keywords that say what a date is: expiry, manufacture, or a lot code (never a date).

Where the words come from: the date-marking terms of each market's labelling rules and their usual
abbreviations (EU Regulation 1169/2011 in each language: "best before", "use by" and their
translations; Codex GSFL for "date of manufacture", "packing date"; the Korean, Japanese, Chinese,
Thai, Turkish, Russian and Vietnamese labelling terms), plus what industrial coders print (EXP,
MFG, BBF, FV, S.K.T, HSD/NSX). Written as labels print them; the parser folds them like the text
(upper case, no accents). A space in a word stands for any short gap OCR leaves ("USE BY",
"USEBY", "USE-BY", "MIND. HALTBAR BIS").

Words of spaced scripts (Latin, Cyrillic) are matched as words: never inside another word ("VAL"
in "INTERVAL"), but glued to digits or punctuation as OCR prints them ("25VAL:18/06/2026"), and
glued to a month name ("VALABR/27", "EXPFEV27"). Thai, Chinese, Japanese, Korean and Arabic write
words without spaces between them, so their words are matched anywhere; the longer words that only
contain a keyword ("ผลิตภัณฑ์", product, holds "ผลิต", produced) are listed as not keywords.

A few words follow the date they label: Korean 까지 ("until") and 부터 ("from"), Japanese まで,
Chinese 前 ("before"): ``26.03.02 부터 27.03.01 까지`` is a range whose end is the expiry.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from pipeline.dates.months import CODER_MONTHS, MONTH_PATTERN
from pipeline.dates.normalize import fold, normalize
from pipeline.dates.wordtree import word_tree

__all__ = [
    "Keyword",
    "Role",
    "find_keywords",
    "keywords_in_line",
    "restore_glued",
    "restore_keywords",
    "restore_misread",
]


class Role(enum.Enum):
    """What a keyword says about the date it labels."""

    EXPIRY = "expiry"
    MANUFACTURE = "manufacture"
    LOT = "lot"


# Words that label the date after them, by role and language.
_EXPIRY_WORDS = {
    "en": "USE BY|USE BEFORE|BEST BEFORE|BEST BEFORE END|BEST BY|BEST IF USED BY|BBE|BBF|BBD|BB"
    "|EXPIRY|EXPIRES|EXPIRE|EXPIRATION|EXP|EXPY|SELL BY|DISPLAY UNTIL|CONSUME BEFORE"
    # what coders abbreviate and US and Australian packs print besides the rules' terms (not "valid
    # until", "good thru" nor "enjoy before": promotions, coupons and storage advice print them)
    "|BEST BEF|BEST BEF END|BEST IF USED BEFORE|ENJOY BY|USE OR FREEZE BY|FRESHEST BY",
    "pt": "VALIDADE|VALIDO ATE|VAL|VENCIMENTO|VENCE|VENC|CONSUMIR ATE|CONSUMIR PREFERENCIALMENTE ATE"
    "|CONSUMIR ANTES DE|CONSUMIR PREFERENCIALMENTE ANTES DE",
    "es": "VTO|CAD|CADUCIDAD|FV|FECHA DE VENCIMIENTO|FECHA DE CADUCIDAD|FECHA CAD"
    "|CONSUMIR ANTES DEL"
    "|CONSUMIR PREFERENTEMENTE ANTES DEL|CONSUMIR PREFERENTEMENTE ANTES DE|CONSUMO PREFERENTE",
    "fr": "MEILLEUR AVANT|DDM|DLC|DLUO|A CONSOMMER JUSQU AU|A CONSOMMER AVANT|A CONSOMMER DE PREFERENCE AVANT"
    "|A CONSOMMER DE PREFERENCE AVANT FIN|A CONSOMMER DE PREFERENCE AVANT LE|DE PREFERENCE AVANT"
    "|DE PREFERENCE AVANT FIN|DE PREFERENCE AVANT LE|DATE LIMITE|PEREMPTION",
    "de": "MHD|M H D|MINDESTENS HALTBAR BIS|MINDESTENS HALTBAR BIS ENDE|MIND HALTBAR BIS"
    "|MIND HALTBAR BIS ENDE|HALTBAR BIS|ZU VERBRAUCHEN BIS|VERBRAUCHEN BIS|VERBRAUCHSDATUM|VERFALLSDATUM",
    "it": "SCAD|SCADENZA|DA CONSUMARSI ENTRO|DA CONSUMARSI ENTRO IL|DA CONSUMARSI PREFERIBILMENTE ENTRO"
    "|DA CONSUMARSI PREFERIBILMENTE ENTRO IL|DA CONSUMARSI PREF ENTRO|PREFERIBILMENTE ENTRO",
    "nl": "THT|TGT|TE GEBRUIKEN TOT|GEBRUIKEN TOT|TEN MINSTE HOUDBAAR TOT|TENMINSTE HOUDBAAR TOT"
    "|TEN MINSTE HOUDBAAR TOT EINDE|HOUDBAAR TOT",
    "tr": "S K T|SON KULLANMA TARIHI|SON KUL TAR|SON TUKETIM TARIHI|TETT|TAVSIYE EDILEN TUKETIM TARIHI",
    "pl": "NALEZY SPOZYC DO|NAJLEPIEJ SPOZYC PRZED|NAJLEPIEJ SPOZYC PRZED KONCEM|SPOZYC DO"
    "|DATA WAZNOSCI|WAZNE DO|TERMIN PRZYDATNOSCI",
    # ED ("expired date"): how Indonesian and Malaysian coders abbreviate it (ED20260727, ED: 12/26;
    # only so, see _ED_END).
    "id": "BAIK DIGUNAKAN SEBELUM|BAIK DIKONSUMSI SEBELUM|KEDALUWARSA|KADALUARSA|KADALUWARSA|ED",
    "ms": "TARIKH LUPUT|LUPUT|TARIKH TAMAT TEMPOH|TAMAT TEMPOH|GUNA SEBELUM|BAIK DIGUNAKAN SEBELUM",
    "vi": "HSD|HAN SU DUNG|HAN DUNG|NGAY HET HAN",
    "ru": "ГОДЕН ДО|ГОДНО ДО|ГОДЕН ДО КОНЦА|СРОК ГОДНОСТИ ДО|УПОТРЕБИТЬ ДО|ИСПОЛЬЗОВАТЬ ДО"
    "|ДАТА ОКОНЧАНИЯ СРОКА ГОДНОСТИ",
    "th": "หมดอายุ|วันหมดอายุ|วันที่หมดอายุ|ควรบริโภคก่อน|บริโภคก่อน|สิ้นอายุ|ใช้ก่อน",
    "ar": "تاريخ الانتهاء|الانتهاء|انتهاء|انتهاء الصلاحية|تاريخ الصلاحية|صالح حتى|صالح لغاية|ينتهي في"
    "|يستهلك قبل|يفضل استهلاكه قبل",
    "zh": "保质期至|保質期至|有效期至|有效期限|有效日期|到期日|到期日期|失效日期|限用日期|最佳食用日期",
    "ja": "賞味期限|消費期限|有効期限|使用期限|品質保持期限",
    "ko": "유통기한|소비기한|품질유지기한|사용기한|유효기간",
}
_MANUFACTURE_WORDS = {
    "en": "MFG|MFD|MFG DATE|MANUFACTURED|MANUFACTURE DATE|MANUFACTURING DATE|PKD|PACKED|PACKED ON"
    "|PACKAGED ON|PACKING DATE|PKG DATE|PRODUCED|PRODUCTION DATE|PROD|PRO DATE|PROD DATE"
    # the legends Indian packs print (the Legal Metrology rules' "date of manufacture or packing";
    # realworld7 002's "Date of Packaging : SEP2024" beside "Use By : MAY2025")
    "|DATE OF MANUFACTURE|DATE OF MANUFACTURING|DATE OF PACKING|DATE OF PACKAGING|PACKAGING DATE",
    "pt": "FABRICACAO|FABRICADO|FAB|PRODUCAO|ENVASADO|ENV|EMBALADO|EMB|DATA DE FABRICACAO",
    "es": "ELAB|ELABORACION|ELABORADO|FP|FE|F ELAB|FECHA DE ELABORACION|FECHA DE PRODUCCION"
    "|FECHA DE FABRICACION",
    "fr": "FABRIQUE LE|DATE DE FABRICATION|FAB LE|EMBALLE LE|CONDITIONNE LE",
    "de": "HERGESTELLT|HERSTELLDATUM|HERSTELLUNGSDATUM|HERGESTELLT AM|PRODUKTIONSDATUM|ABGEPACKT AM"
    "|ABFULLDATUM|VERPACKT AM",
    "it": "DATA DI PRODUZIONE|PRODOTTO IL|CONFEZIONATO IL",
    "nl": "GEPRODUCEERD OP|PRODUCTIEDATUM|VERPAKT OP",
    "tr": "U T|URT|URETIM TARIHI|IMALAT TARIHI",
    "pl": "DATA PRODUKCJI|WYPRODUKOWANO",
    "id": "TGL PRODUKSI|TANGGAL PRODUKSI|DIPRODUKSI|TGL PROD",
    "ms": "TARIKH DIBUAT|TARIKH PEMBUATAN|TARIKH PENGELUARAN|TARIKH DIKILANG|DIKILANG",
    "vi": "NSX|NGAY SAN XUAT|NGAY SX",
    "ru": "ИЗГОТОВЛЕНО|ДАТА ИЗГОТОВЛЕНИЯ|ДАТА ПРОИЗВОДСТВА|ПРОИЗВЕДЕНО|ДАТА ВЫРАБОТКИ|ВЫРАБОТАНО"
    "|УПАКОВАНО|ДАТА УПАКОВКИ",
    "th": "ผลิต|วันผลิต|วันที่ผลิต|ผลิตวันที่|ผลิตเมื่อ",
    "ar": "تاريخ الإنتاج|الإنتاج|إنتاج|تاريخ الانتاج|الانتاج|انتاج|تاريخ الصنع|الصنع",
    "zh": "生产日期|生產日期|制造日期|製造日期|包装日期|出厂日期|加工日期|分装日期",
    "ja": "製造年月日|製造日|製造|生産日|加工日",
    "ko": "제조일자|제조일|제조년월일|생산일자|포장일자|제조",
}
_LOT_WORDS = {
    "en": "LOT|LOT NO|BATCH|BATCH NO|B NO",
    "pt": "LOTE",
    "it": "LOTTO",
    "de": "CHARGE|CH B",
    "nl": "PARTIJ",
    "tr": "PARTI|PARTI NO",
    "pl": "PARTIA",
    "vi": "SO LO",
    "ru": "ПАРТИЯ",
    # "production number" and "production round": lot codes, though they hold ผลิต (produced).
    "th": "เลขที่ผลิต|ครั้งที่ผลิต|รหัสการผลิต",
    "zh": "批号|批號|生产批号",
    "ja": "ロット|製造番号|製造所固有記号",
}
# Words that contain a keyword but are not one: product, manufacturer, made by, made in.
_NOT_KEYWORDS = "ผลิตภัณฑ์|ผู้ผลิต|ผลิตโดย|ผลิตและจำหน่ายโดย|제조원|제조사|製造者|製造所|生产商|生产厂家|生產商"
# Words that label the date before them (see the module docstring).
_EXPIRY_AFTER = "까지|까지임|まで|迄|前|之前|以前"
_MANUFACTURE_AFTER = "부터"

_LETTER_ROLES = {
    "V": Role.EXPIRY,
    "E": Role.EXPIRY,
    "F": Role.MANUFACTURE,
    "P": Role.MANUFACTURE,
    "L": Role.LOT,
}
# What a space in a word stands for, removed from both the table's words and the text's matches.
_GAPS = str.maketrans("", "", " .'-")


class _Entry(NamedTuple):
    role: Role | None
    after: bool = False
    letter: bool = False


def _entries() -> dict[str, _Entry]:
    table: dict[str, _Entry] = {letter: _Entry(role, letter=True) for letter, role in _LETTER_ROLES.items()}
    groups = (
        (_NOT_KEYWORDS, _Entry(None)),
        (_EXPIRY_AFTER, _Entry(Role.EXPIRY, after=True)),
        (_MANUFACTURE_AFTER, _Entry(Role.MANUFACTURE, after=True)),
        *((words, _Entry(Role.EXPIRY)) for words in _EXPIRY_WORDS.values()),
        *((words, _Entry(Role.MANUFACTURE)) for words in _MANUFACTURE_WORDS.values()),
        *((words, _Entry(Role.LOT)) for words in _LOT_WORDS.values()),
    )
    for words, entry in groups:
        for word in words.split("|"):
            table.setdefault(fold(word).translate(_GAPS), entry)
    return table


def _words() -> list[str]:
    groups = (*_EXPIRY_WORDS.values(), *_MANUFACTURE_WORDS.values(), *_LOT_WORDS.values())
    groups += (_NOT_KEYWORDS, _EXPIRY_AFTER, _MANUFACTURE_AFTER)
    return [fold(word) for words in groups for word in words.split("|")] + list(_LETTER_ROLES)


def _spaced_script(first: str) -> bool:
    """Latin and Cyrillic words are delimited by spaces; the other scripts here are not."""
    return first.isascii() or "\u0400" <= first <= "\u04ff"


_TABLE = _entries()
# A lone letter (V 08/27, E:02 08 2026) stands apart from letters (the tree's guard). After a
# digit it is a tag only with a colon or dot ("08:05F: 02 01 19") or a digit ("LOT0207V021125")
# after it: "1L 12/08/2026" and "V4L" are volumes. A letter may not follow it...
_LETTER_END = r"(?:(?<!\d[VFPLE])|(?=[:.\d]))[:.]?(?![^\W\d_])"
# ... except after E, an English month's three letters: a coder's E glued to its month ("EJUL
# 2029"). Not after L, P, F or V: "LMAR25" is a lot code.
_CODER_MONTH = "|".join(CODER_MONTHS)
_E_END = rf"(?:(?<!\dE)|(?=[:.\d]))[:.]?(?:(?![^\W\d_])|(?=(?:{_CODER_MONTH})(?![^\W\d_])))"
# ED labels a date only glued to it or with its colon or dot ("ED20260727", "ED: 12/26"): the
# Italian "ed" ("and") and a PACKED cut into "PACK" / "ED" stand before a space.
_ED_END = r"(?=[:.\d])"
_ENDS = {**dict.fromkeys(_LETTER_ROLES, _LETTER_END), "E": _E_END, "ED": _ED_END}
_KEYWORDS = re.compile(word_tree(_words(), _spaced_script, ends=_ENDS))
# After a word of a spaced script: no letter, unless a month name starts there ("EXPFEV27").
_LETTER = re.compile(r"[^\W\d_]")
_MONTH_NEXT = re.compile(rf"(?:{MONTH_PATTERN})(?![^\W\d_])")


# A keyword glued to its date whose last letter OCR read as the digit it looks like ("DLU0" +
# 09.07.2027 for DLUO, "HS0" + 20240829 for HSD; hard set v3, bench/RESULTS.md "seventh session"):
# the date then reads as 009.07.2027. Words of Latin script with no gap, of three letters or more
# (or two, ED, where the rest is a keyword itself: see _GLUED); only before a digit, at a word's
# start.
# Only letters read as a zero: a keyword whose last letter OCR dropped leaves the date's own first
# digit there ("VA12/05/2026" is VAL 12/05, never VAL 2/05), and a zero taken from a date is the
# zero of a padded day or month, which changes no date.
_LAST_LETTER_AS_DIGIT = {"O": "0", "D": "0"}


def _latin_date_words() -> list[str]:
    """The expiry and manufacture keywords that are one word of Latin letters (no gap), folded,
    in the tables' order: those a misread can respell (``_GLUED``, ``_MISREAD``)."""
    groups = (*_EXPIRY_WORDS.values(), *_MANUFACTURE_WORDS.values())
    words = (fold(word) for group in groups for word in group.split("|"))
    return [word for word in words if word.isascii() and word.isalpha()]


def _glued_spellings(shorter_is_keyword: bool) -> dict[str, str]:
    """The spellings of keywords whose last letter was read as a digit; ``shorter_is_keyword``:
    only those of words whose other letters are a keyword themselves (BBD's BB, ED's E), else only
    the others."""
    return {
        word[:-1] + _LAST_LETTER_AS_DIGIT[word[-1]]: word
        for word in _latin_date_words()
        if len(word) >= 2
        and word[-1] in _LAST_LETTER_AS_DIGIT
        and (word[:-1] in _TABLE) is shorter_is_keyword
        and (len(word) >= 3 or shorter_is_keyword)
    }


def _alternation(spellings: dict[str, str]) -> str:
    # Opens with literals, so the engine skips to where a spelling can start; that it starts a
    # word is checked on each match (a look-behind first would be tried at every position).
    return "|".join(map(re.escape, sorted(spellings, key=len, reverse=True)))


# Where the letters before the zero are a keyword themselves, the zero may be the date's own: "BB05/07/27"
# is BB and the 5th, never BBD 5/07. It is the keyword's only where the date has its two digits
# without it: "E008.09.2024" is ED 08.09.2024 (hard set v4 980306), a day of three digits none.
_GLUED_APART = _glued_spellings(shorter_is_keyword=False)
_GLUED_AFTER_KEYWORD = _glued_spellings(shorter_is_keyword=True)
_GLUED_SPELLINGS = {**_GLUED_APART, **_GLUED_AFTER_KEYWORD}
_GLUED = re.compile(
    rf"(?:{_alternation(_GLUED_APART)})(?=\d)|(?:{_alternation(_GLUED_AFTER_KEYWORD)})(?=\d\d[./\-])"
)


def restore_glued(text: str) -> str:
    """``text`` (normalised) with each keyword glued to a number whose last letter was read as a
    digit spelled right again (``DLU009.07.2027`` -> ``DLUO09.07.2027``, ``E008.09.2024`` ->
    ``ED08.09.2024``); same length."""
    return _respelled(text, _GLUED, _GLUED_SPELLINGS)


def _respelled(text: str, pattern: re.Pattern[str], spellings: dict[str, str]) -> str:
    """``text`` with each match of ``pattern`` that starts a word replaced by its keyword."""
    if not pattern.search(text):
        return text

    def respelled(match: re.Match[str]) -> str:
        start = match.start()
        if start and _LETTER.match(text, start - 1):
            return match.group()  # inside a word
        return spellings[match.group()]

    return pattern.sub(respelled, text)


# Letters that dot-matrix and inkjet print, or the OCR, make of one another: a K's and an X's
# diagonals; the round letters (a D or a G whose right side lost its dots is a C, an O with a
# tail a Q); a U whose bottom closes to a V; an E without its bottom bar is an F; a P with a
# leg an R; a dot-matrix B, its two bowls closed, an 8. Measured on the hard sets' and real
# photos' reads (bench/RESULTS.md, "twelfth session"): NSK for NSX, PROC and PRCD for PROD, MFQ for
# MFG, UAL for VAL; "78BF180526" for "7BBF180526", the code's line number before it (realworld-dev
# 050, "thirteenth session").
_CONFUSED = {
    "K": "X", "X": "K", "C": "DOG", "D": "CO", "O": "CDQ", "Q": "OG", "G": "CQ",
    "U": "V", "V": "U", "E": "F", "F": "E", "P": "R", "R": "P", "B": "8",
}  # fmt: skip


# Words that a keyword misread by one letter spells, printed before numbers on labels in their own
# right: DOM (date of manufacture on Indian and Gulf labels; Sunday in Spanish opening hours: DDM's
# misread would make it an expiry), MED (Scandinavian "with"), CAO (Vietnamese "high", Portuguese
# "dog"), DAD, MEG, ODM, VEND, ENU.
_NOT_MISREAD = frozenset({"DOM", "MED", "CAO", "DAD", "MEG", "ODM", "VEND", "ENU"})


def _misread_spellings() -> dict[str, str]:
    """Each expiry or manufacture keyword that coders print (three or four letters of Latin script:
    EXP, NSX, PROD, DLUO) with one letter read as one it is confused with, to the keyword; not
    where that spelling is a keyword itself, nor where two keywords share it, nor a word of
    ``_NOT_MISREAD``, nor one that ends in a digit (FA8, EM8: it would run into the number after
    it, and "FA8 12/05/2027" could be a code). Lot words are left out: a date taken for a lot
    code is lost. Longer keywords are printed in label fonts, not coder dots, and their own length
    keeps them apart.
    None is a month's name (a test holds it)."""
    found: dict[str, set[str]] = {}
    for word in set(_latin_date_words()):
        if not 3 <= len(word) <= 4:
            continue
        for at, letter in enumerate(word):
            for other in _CONFUSED.get(letter, ""):
                found.setdefault(word[:at] + other + word[at + 1 :], set()).add(word)
    return {
        spelling: words.pop()
        for spelling, words in found.items()
        if len(words) == 1
        and spelling not in _TABLE
        and spelling not in _NOT_MISREAD
        and not spelling[-1].isdigit()
    }


_MISREAD_SPELLINGS = _misread_spellings()
# A misread keyword stands as a word before its date: a colon, a dot or a space or two, then a
# digit ("NSK: 260623", "PROC30.12.24"). A tree, not a list: it is searched on every parse.
_MISREAD = re.compile(rf"(?:{word_tree(_MISREAD_SPELLINGS)})(?=[ :.]{{0,2}}\d)")


def restore_misread(text: str) -> str:
    """``text`` (normalised) with each keyword that the OCR misread by one confused letter
    (``_CONFUSED``) and that stands before a number spelled right (``NSK: 260623`` -> ``NSX:
    260623``); same length."""
    return _respelled(text, _MISREAD, _MISREAD_SPELLINGS)


# A date glued to its keyword whose first digit OCR read as the letter it looks like, as it reads
# a digit after letters ("EXPI9/09/2027" for EXP19/09/2027, "BBZ8.12.2028"): normalize leaves a
# letter after a word alone ("LB1960922"), and the date loses its first digit (the 9th, not the
# 19th). Only before what goes on as a date: a field and a separator, or a six- or eight-digit
# run; and not where the keyword and the letter spell a word of the tables or a month (FEB).
# Not "|": a bar after a keyword is as often its colon or a rule ("EXP|1/05/2027" is the 1st).
_DIGIT_LOOKS = {"O": "0", "I": "1", "S": "5", "B": "8", "Z": "2"}


def _spells_a_word(word: str) -> bool:
    return any(word + letter in _TABLE or _MONTH_NEXT.fullmatch(word + letter) for letter in _DIGIT_LOOKS)


def _glued_first_digit() -> re.Pattern[str]:
    unique = dict.fromkeys(_latin_date_words())
    words = [word for word in unique if len(word) > 1 and not _spells_a_word(word)]
    letters = re.escape("".join(_DIGIT_LOOKS))
    date_goes_on = r"(?:\d?[./\-]\d|\d{5}(?!\d)|\d{7}(?!\d))"
    return re.compile(rf"(?:{_alternation(dict.fromkeys(words, ''))})(?=[{letters}]{date_goes_on})")


_GLUED_FIRST_DIGIT = _glued_first_digit()


def restore_first_digit(text: str) -> str:
    """``text`` (normalised) with the first digit of a date glued to its keyword read as a digit
    again where OCR made a letter of it (``EXPI9/09/2027`` -> ``EXP19/09/2027``); same length."""
    ends = [
        match.end()
        for match in _GLUED_FIRST_DIGIT.finditer(text)
        if not (match.start() and _LETTER.match(text, match.start() - 1))
    ]
    if not ends:
        return text
    chars = list(text)
    for end in ends:
        chars[end] = _DIGIT_LOOKS[chars[end]]
    return "".join(chars)


def restore_keywords(text: str) -> str:
    """``text`` (normalised) with its keywords spelled right as the parser reads them: those glued
    to a number with their last letter read as a digit (:func:`restore_glued`), then those misread
    by one letter (:func:`restore_misread`), then the first digit of a date glued to one
    (:func:`restore_first_digit`); same length."""
    return restore_first_digit(restore_misread(restore_glued(text)))


class Keyword(NamedTuple):
    """A keyword's span and role. ``bare`` is a lone letter without a colon or dot ("V 08/27");
    ``after`` a word that labels the date before it (까지)."""

    start: int
    end: int
    role: Role
    bare: bool
    after: bool = False


# A keyword's O that OCR read as a zero inside the word ("PR0.DATE", "BEF0RE": a dot-matrix O is
# a zero's shape; hard set v2 940367, bench/RESULTS.md "tenth session"): a zero with a letter on
# each side, or two letters before it and a stop, colon or space after.
_INNER_ZERO = re.compile(r"(?<=[A-Z])0(?=[A-Z])|(?<=[A-Z]{2})0(?=[.:\s])")


def find_keywords(text: str) -> list[Keyword]:
    """Every keyword in ``text`` (normalised), in text order; also those whose O was read as a
    zero (``_INNER_ZERO``), where they overlap no keyword of the text as read ("EXP0 12/26" keeps
    its EXP) but the shorter ones they hold ("BEST BEF0RE" is BEST BEFORE, not BEST BEF and a
    code)."""
    found = _keywords_in(text)
    view = _INNER_ZERO.sub("O", text)
    if view == text:
        return found
    restored = []
    for keyword in _keywords_in(view):
        if "0" not in text[keyword.start : keyword.end]:
            continue
        overlapping = [other for other in found if keyword.start < other.end and other.start < keyword.end]
        if all(keyword.start <= other.start and other.end < keyword.end for other in overlapping):
            found = [other for other in found if other not in overlapping]
            restored.append(keyword)
    return sorted(found + restored, key=lambda keyword: keyword.start) if restored else found


def keywords_in_line(text: str) -> tuple[str, list[Keyword]]:
    """One OCR line as the parser reads its keywords: the line normalised with its misread and
    glued keywords restored (:func:`restore_keywords`), and the keywords found in that text (their
    ``start`` and ``end`` index it)."""
    restored = restore_keywords(normalize(text))
    return restored, find_keywords(restored)


def _keywords_in(text: str) -> list[Keyword]:
    found = []
    for match in _KEYWORDS.finditer(text):
        start, end = match.span()
        word = match.group()
        entry = _TABLE.get(word[0] if end - start == 2 and word[1] in ":." else word.translate(_GAPS))
        if entry is None or entry.role is None:
            continue
        # Keywords built with positional fields: a NamedTuple's keyword arguments cost more.
        if entry.letter:
            found.append(Keyword(start, end, entry.role, end - start == 1))
            continue
        # A letter right after the word is checked first: it is rarely there (then no call).
        if _LETTER.match(text, end) and _spaced_script(word[0]) and not _MONTH_NEXT.match(text, end):
            continue  # a longer word ("EXPRESS", "VALOR")
        found.append(Keyword(start, end, entry.role, False, entry.after))
    return found
