"""Which keyword labels which date.

A keyword labels the first date after it when only a short run of non-digits lies between
("Validade: 12/2026", "Best before end 09 JAN"). Keywords printed together ("FAB/LOTE:")
label the date as one: expiry over manufacture over lot. A lot keyword directly before a
date-shaped code makes it a lot code, which is dropped.

Some printers put the letter after the date ("12/2027 V 01/2025 F"). When a lone V, F or P
ends the text (or its line) right after a date, the label reads that way throughout, and
every lone letter labels the date just before it instead. A letter glued to what follows it
("F135", a line code) is no such suffix.

Words that follow their date (Korean 까지, "until"; 부터, "from") label the date just before them,
over any keyword before it: in "유통기한 26.03.02 부터 27.03.01 까지" the first date is the start.

Labels printed as a table put the keywords in a header and the dates under it, in the same order
("ผลิต / หมดอายุ : 220925 / 220327", "Prod. Date/ Exp. Date / 28032025 / 28032026", bilingual
headers naming each role twice). When two or more dates follow one another with no keyword between
them, and the keywords before them name as many roles, each date takes its column's role, unless
that would date the manufacture after the expiry. A lot keyword is a column where it opens the
header ("LOT/EXP: 261130 05/2027"): its code is dropped, not read as the expiry date.

Indian packs pair their dates under a pair of keywords ("MFD & USE BY: 30/08/24 & 12/01/25"), or
mark them with a legend's symbols ("#Mfd. @Use before" over "# 09/23" and "@ 08/26"): the pair's
and the legend's roles are given last, over what a keyword's reach gave.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from pipeline.dates.keywords import Keyword, Role

__all__ = ["bind_roles"]

# A keyword labels a date that starts at most this many characters after it.
_REACH = 24
# An expiry keyword followed by "see" and a place names where its date is printed, elsewhere
# ("EXP/LOT: SEE BOTTOM", "Best before end: see base of can", "A consommer de preference avant le :
# voir couvercle", "保质期至: 见瓶盖", "賞味期限: 枠外に記載", "유통기한: 별도 표기"): it labels no date after
# it. Not a place beside it ("see below", "voir ci-contre", "见下方"): the date there is its date.
# A manufacture keyword keeps its date so pointed (Chinese packs print "生产日期: 见封口" over the
# production date and a shelf life in months: unlabelled, that date would be the answer).
_POINTER = re.compile(
    r"\b(?:SEE|VOIR|SIEHE|ZIE|VEDI|VEDERE|VER|PATRZ|LIHAT|XEM)\b(?![ :.]*(?:A |AL |AO |PHIA )?(?:BELOW|UNDER"
    r"|ABOVE|HERE|OVERLEAF|BESIDE|NEXT|CI[ -]?(?:DESSOUS|DESSUS|CONTRE)|COTE|UNTEN|OBEN|DANEBEN|HIERONDER"
    r"|HIERBOVEN|NAAST|ABAJO|ARRIBA|ABAIXO|ACIMA|LADO|SOPRA|SOTTO|LATO|OBOK|PONIZEJ|POWYZEJ|DI BAWAH"
    r"|DI ATAS|DUOI|TREN|BEN CANH))"
    r"|[见見](?![下上左右旁])|(?:枠外|欄外|裏面|底面|側面|別途)[^\n]{0,8}?(?:記載|表記)"
    r"|(?:별도|하단|상단|측면|뒷면|바닥)\s?표기"
)
# Between a lone letter and its date, or between keywords printed together: separators only.
_TIGHT = re.compile(r"[\s:.\-/#]{0,2}")
# Between keywords printed together: the same, on one line. "BEST BEFORE" over "FAB: 25122028"
# are two labels, the second its own date's.
_TOGETHER = re.compile(r"[ \t:.\-/#]{0,2}")
_SUFFIX_GAP = re.compile(r" {0,2}")
_NO_DIGITS = re.compile(r"\D*")
# Between a date and the word after it that labels it (까지): a few spaces or marks.
_AFTER_GAP = re.compile(r"[\s:.,)\-]{0,3}")
# Between a lot keyword and its code: separators, or a number sign ("Lot # 051226", "Batch No.
# 120527" once "No." is read apart from its keyword).
_LOT_GAP = re.compile(r"[\s:.\-/#]{0,2}|\s?(?:#|NO\.?|N°|NR\.?)\s?[:.]?\s?")
# A suffix letter ends its token: a space, punctuation or the end follows, not a code ("F135").
_LETTER_ENDS = re.compile(r"(?![^\W_])")

Span = tuple[int, int]


def _keyword_before(
    text: str, start: int, keywords: Sequence[Keyword], ends: Sequence[int], floor: int, suffix_letters: bool
) -> list[Keyword]:
    """The keyword cluster labelling a date at ``start`` (none after ``floor``, the last date's end).

    ``ends`` are the keywords' ends, in order: keywords never overlap, so their ends are sorted too.
    """
    cluster: list[Keyword] = []
    # Start at the last keyword that ends before the date.
    last = bisect_right(ends, start)
    for index in range(last - 1, -1, -1):
        keyword = keywords[index]
        if keyword.start < floor:
            break
        if keyword.after:  # labels the date before it, not this one
            continue
        if not cluster:
            gap = text[keyword.end : start]
            if keyword.bare and (suffix_letters or not _TIGHT.fullmatch(gap)):
                continue
            if (
                len(gap) > _REACH
                or not _NO_DIGITS.fullmatch(gap)
                or (keyword.role is not Role.MANUFACTURE and _POINTER.search(gap))
            ):
                break
            cluster.append(keyword)
        elif _TOGETHER.fullmatch(text[keyword.end : cluster[-1].start]) and not (
            suffix_letters and keyword.bare
        ):
            cluster.append(keyword)
        else:
            break
    return cluster


def _suffix_letter_dates(
    text: str, spans: Sequence[Span], keywords: Sequence[Keyword]
) -> list[tuple[Keyword, int]]:
    """Each lone V, F or P that follows a date, with that date's index, when the label reads that
    way: at least one of them has nothing date-like after it on its line. Else empty."""
    found: list[tuple[Keyword, int]] = []
    reads_so = False
    starts: list[int] | None = None  # built only when a lone letter follows a date (rare)
    for keyword in keywords:
        if not keyword.bare or keyword.role is Role.LOT or not _LETTER_ENDS.match(text, keyword.end):
            continue
        index = _date_just_before(text, keyword, spans)
        if index is None:
            continue
        found.append((keyword, index))
        if reads_so:
            continue
        line_end = text.find("\n", keyword.end)
        line_end = len(text) if line_end < 0 else line_end
        if starts is None:
            starts = [start for start, _ in spans]
        following = bisect_left(starts, keyword.end)
        reads_so = following == len(starts) or starts[following] >= line_end
    return found if reads_so else []


def _line_goes_on(text: str, start: int) -> bool:
    """Whether anything but spaces follows ``start`` on its line."""
    end = text.find("\n", start)
    return bool(text[start : len(text) if end < 0 else end].strip())


def _date_just_before(text: str, keyword: Keyword, spans: Sequence[Span]) -> int | None:
    """Index of the date that ends at most two spaces before ``keyword``, if any."""
    index = bisect_right(spans, keyword.start, key=lambda span: span[1]) - 1
    if index >= 0 and _SUFFIX_GAP.fullmatch(text[spans[index][1] : keyword.start]):
        return index
    return None


def _role_of(text: str, cluster: Sequence[Keyword], start: int) -> Role | None:
    if not cluster:
        return None
    # Expiry over manufacture over lot, whatever their order. Compared with "is", not put in a
    # set: an Enum's hash runs Python code, on every date. One loop, no list or generators.
    manufacture = False
    for keyword in cluster:
        role = keyword.role
        if role is Role.EXPIRY:
            return Role.EXPIRY
        if role is Role.MANUFACTURE:
            manufacture = True
    if manufacture:
        return Role.MANUFACTURE
    # Only a lot code printed right after its keyword is one; "L25130D 10:06 10/08/26" is a date.
    if _LOT_GAP.fullmatch(text[cluster[0].end : start]):
        return Role.LOT
    return None


def bind_roles(
    text: str, spans: Sequence[Span], keywords: Sequence[Keyword], dates: Sequence[dt.date]
) -> list[Role | None]:
    """The role of each date span (in text order), or None when no keyword labels it.

    Args:
        text: the normalised text.
        spans: (start, end) of each date, in text order, not overlapping.
        keywords: the keywords of ``text``, in text order.
        dates: the date each span reads as (a table's columns must make sense in time).
    """
    if not keywords:  # nothing below can bind a role
        return [None] * len(spans)
    suffix_dates = _suffix_letter_dates(text, spans, keywords)
    suffix_letters = bool(suffix_dates)
    roles: list[Role | None] = []
    ends = [keyword.end for keyword in keywords]
    floor = 0
    for start, end in spans:
        cluster = _keyword_before(text, start, keywords, ends, floor, suffix_letters)
        roles.append(_role_of(text, cluster, start))
        floor = end
    for keyword, index in suffix_dates:
        # A word that labels the date before it outranks a lone letter after it that more of the
        # coder's line follows: "BEST IF USED BY 20JUL2022 F M 0938" (a US coder's plant and line
        # letters) is a best-by date. A letter that ends its line is the date's own tag ("EXP
        # 12/03/2026 F" lost its V date: 12/03/2026 is the production date).
        if roles[index] is None or not _line_goes_on(text, keyword.end):
            roles[index] = keyword.role
    _bind_columns(spans, keywords, ends, roles, dates)
    for keyword in keywords:
        if keyword.after:
            index = bisect_right(spans, keyword.start, key=lambda span: span[1]) - 1
            if index >= 0 and _AFTER_GAP.fullmatch(text[spans[index][1] : keyword.start]):
                roles[index] = keyword.role
    if "&" in text:
        _pair_with_ampersand(text, spans, dates, roles, keywords)
    if "@" in text or "#" in text or "*" in text:
        _roles_by_legend(text, spans, roles, keywords)
    return roles


# Between two dates printed as a pair: "10/23 & 09/26".
_AMPERSAND = re.compile(r" ?& ?")


def _pair_with_ampersand(
    text: str,
    spans: Sequence[Span],
    dates: Sequence[dt.date],
    roles: list[Role | None],
    keywords: Sequence[Keyword],
) -> None:
    """Indian labels print the production and expiry dates as a pair under a pair of keywords
    ("MFD & USE BY: 30/08/24 & 12/01/25", "MFG. DATE & USE BEFORE 10/23 & 09/26"): an unlabelled
    date joined by "&" to an earlier production date is its expiry date, where the label prints an
    expiry keyword that labels no date (OCR put it on another line: "MFG. Date &" / "10/23 & 09/26"
    / "Use before", realworld3 009). Not under two production keywords ("MFG & PKD: 04/26 & 05/26")."""
    if Role.EXPIRY in roles or not any(keyword.role is Role.EXPIRY for keyword in keywords):
        return
    for index in range(len(spans) - 1):
        if (
            roles[index] is Role.MANUFACTURE
            and roles[index + 1] is None
            and dates[index + 1] > dates[index]
            and _AMPERSAND.fullmatch(text, spans[index][1], spans[index + 1][0])
        ):
            roles[index + 1] = Role.EXPIRY


# A legend that gives symbols the dates' roles, as Indian packs print it ("#Mfd., B.No., @Use
# before": realworld3 011, 012), each symbol at a line's start or after a space or a comma; and a
# date that a symbol marks ("@ 08/26").
_LEGEND = re.compile(
    r"(?:^|(?<=[\n ,]))([#@*]) ?"
    r"(?:(MFD|MFG|MANUFACTURED|DATE OF MFG|PKD|PACKED)|(USE BEFORE|USE BY|BEST BEFORE|EXP|EXPIRY))(?![A-Z])"
)
_MARKED = re.compile(r"([#@*]) ?\Z")
# How near before a marking symbol a keyword's end makes the symbol its ("USE BY # 04/27").
_OWN_KEYWORD_GAP = 2


def _roles_by_legend(
    text: str, spans: Sequence[Span], roles: list[Role | None], keywords: Sequence[Keyword]
) -> None:
    """Gives a date the role that a printed legend gives the symbol right before it ("# 09/23"
    and "@ 08/26" under "#Mfd. @Use before"), over what a header of the legend's own words gave it.
    A legend names two symbols, one for each role (a lone "*Best before" is a footnote, "#PKD" a
    tag); a symbol with a keyword right before it is that keyword's ("USE BY # 04/27", "PACKED @
    05/26"); a lot code stays one."""
    legend: dict[str, Role] = {}
    for match in _LEGEND.finditer(text):
        role = Role.MANUFACTURE if match.group(2) else Role.EXPIRY
        if legend.setdefault(match.group(1), role) is not role:
            return  # a symbol named for both roles: no legend
    if set(legend.values()) != {Role.MANUFACTURE, Role.EXPIRY}:
        return
    ends = [keyword.end for keyword in keywords]
    for index, (start, _) in enumerate(spans):
        marked = _MARKED.search(text[max(0, start - 2) : start])
        if marked is None or roles[index] is Role.LOT:
            continue
        symbol_at = start - len(marked.group(0))
        if any(
            symbol_at - _OWN_KEYWORD_GAP <= end <= symbol_at and "\n" not in text[end:symbol_at]
            for end in ends
        ):
            continue
        roles[index] = legend.get(marked.group(1), roles[index])


def _in_time_order(columns: Sequence[Role], dates: Sequence[dt.date]) -> bool:
    """Whether no date a column names a manufacture date comes after one it names an expiry date:
    "BEST BEFORE" over "FAB: 25122028" over "16082029" is no table (its columns would make the
    production date the expiry), "ผลิต" over "หมดอายุ : 220925" over "220327" is one."""
    made = [date for role, date in zip(columns, dates, strict=True) if role is Role.MANUFACTURE]
    expires = [date for role, date in zip(columns, dates, strict=True) if role is Role.EXPIRY]
    return not made or not expires or max(made) <= min(expires)


# A lot keyword names a column only where it opens a header, a date keyword right after it ("LOT/EXP:
# 261130 05/2027": the lot's code, then the expiry date; "LOT / EXP"). Elsewhere its code stands
# beside it and is no date's column ("LOTE 4A7 FAB: 12/05/2026 12/05/2028"), and after a date
# keyword ("FAB/LOTE:") it names the date's own code, as Brazilian packs print their lot.
_HEADER_GAP = 3


def _opens_header(named: Sequence[Keyword], at: int) -> bool:
    following = named[at + 1] if at + 1 < len(named) else None
    return (
        at == 0
        and following is not None
        and following.role is not Role.LOT
        and following.start - named[at].end <= _HEADER_GAP
    )


def _bind_columns(
    spans: Sequence[Span],
    keywords: Sequence[Keyword],
    ends: Sequence[int],
    roles: list[Role | None],
    dates: Sequence[dt.date],
) -> None:
    """Gives each date of a run under a header of keywords its column's role (see the docstring);
    ``ends`` are the keywords' ends."""
    if len(spans) < 2 or len(keywords) < 2:
        return
    index = 0
    while index < len(spans):
        # The run: dates after spans[index] with no keyword between one date and the next.
        run_end = index + 1
        while run_end < len(spans):
            between = bisect_right(ends, spans[run_end][0]) - bisect_right(ends, spans[run_end - 1][1])
            if between:
                break
            run_end += 1
        if run_end - index >= 2:
            floor = spans[index - 1][1] if index else 0
            named = [
                keyword
                for keyword in keywords
                if floor <= keyword.start
                and keyword.end <= spans[index][0]
                and not keyword.after
                and not keyword.bare
            ]
            dated = [keyword.role for keyword in named if keyword.role is not Role.LOT]
            with_lot = [
                keyword.role
                for at, keyword in enumerate(named)
                if keyword.role is not Role.LOT or _opens_header(named, at)
            ]
            # The lot's column only where the run holds its code too: "LOT/MFG/EXP: 12/05/2026
            # 12/05/2028 L4A7" has two dates for three columns, and they are MFG's and EXP's.
            for header in (with_lot, dated):
                columns = list(dict.fromkeys(header))  # each role once, in the order first named
                if len(columns) == run_end - index and _in_time_order(columns, dates[index:run_end]):
                    roles[index:run_end] = columns
                    break
        index = run_end
