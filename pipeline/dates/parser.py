"""parse_dates: OCR text in, every date and the expiry date out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.dates.binding import bind_roles
from pipeline.dates.confidence import Evidence, confidence
from pipeline.dates.keywords import Keyword, Role, find_keywords, restore_keywords
from pipeline.dates.normalize import MAX_TEXT_CHARS, normalize
from pipeline.dates.order import canadian, legend_order, market_order, year_first_script
from pipeline.dates.patterns import Form, RawMatch, find_matches
from pipeline.dates.prices import is_price
from pipeline.dates.quantities import is_quantity
from pipeline.dates.reading import Reading, read
from pipeline.dates.shelf_life import expires, find_shelf_life
from pipeline.dates.stacked import joins
from pipeline.dates.years import YearWindow
from pipeline.types import DateKind, DateOrder, DatePrecision, ParsedDate

__all__ = ["DateParseResult", "parse_dates", "parse_with_evidence"]


def _kind_of(role: Role | None) -> DateKind:
    # Compared with "is", not looked up in a dict: an Enum's hash runs Python code.
    if role is Role.EXPIRY:
        return DateKind.EXPIRY
    if role is Role.MANUFACTURE:
        return DateKind.MANUFACTURE
    return DateKind.UNKNOWN


_DIGIT = re.compile(r"\d")
# Between a keyword and the date it labels right after it (_right_after_keyword).
_GAP = re.compile(r"[\s:.\-]*")


@dataclass(frozen=True, slots=True)
class DateParseResult:
    """Every date found in a text, in text order, and the one judged to be the expiry date."""

    best: ParsedDate | None
    candidates: tuple[ParsedDate, ...]


_NOTHING = DateParseResult(best=None, candidates=())


def parse_dates(
    text: str,
    reference_date: dt.date,
    date_order: DateOrder | str | None = None,
    *,
    default_order: DateOrder | str = DateOrder.DMY,
    grace_days: int = 30,
    years_back: int = 15,
    years_ahead: int = 15,
) -> DateParseResult:
    """Finds the dates in OCR text and picks the expiry date.

    A pure function of its arguments: nothing here reads the clock.

    Args:
        text: OCR output, lines joined with newlines in reading order. Only the first
            ``MAX_TEXT_CHARS`` characters are read.
        reference_date: "today" for the caller; years that are not printed are chosen from it,
            and printed years must lie in its window.
        date_order: "DMY", "MDY" or "YMD": how an ambiguous numeric date such as 03/04/26 is
            read, when the caller knows. None: the label's own evidence decides (a printed legend
            such as "DD/MM/YY", a year-first script: Korean, Japanese, Chinese; see ``order.py``),
            else ``default_order``.
        default_order: the order when neither the caller nor the label gives one (the server's
            configured default).
        grace_days: a date without a year is the next such date on or after
            ``reference_date - grace_days``, so a label that expired last week still reads as
            this year's date.
        years_back: printed years before ``reference_date.year - years_back`` are not dates.
        years_ahead: printed years after ``reference_date.year + years_ahead`` are not dates.

    Returns:
        The candidates in text order, and ``best``: a date after an expiry keyword; else the
        production date plus a printed shelf life (``shelf_life.py``; that date is the last
        candidate); else, beside manufacture dates, the latest unlabelled date; else None. Equal
        choices go to the earlier one in the text.

    Raises:
        ValueError: ``date_order`` or ``default_order`` is not one of DMY, MDY, YMD.
    """
    # The enum's own call costs a microsecond a parse; most callers pass a member or nothing.
    order = date_order if date_order is None or date_order.__class__ is DateOrder else DateOrder(date_order)
    default = default_order if default_order.__class__ is DateOrder else DateOrder(default_order)
    window = _year_window(reference_date, years_back, years_ahead)
    text = text[:MAX_TEXT_CHARS]
    candidates, _, normalized = _parse(text, order, window, grace_days, default)
    restored = _first_separator_restored(text, normalized, candidates, window, order, grace_days, default)
    if restored is not None:
        return restored
    if candidates and not _has_expiry(candidates):
        # No expiry date printed: perhaps a shelf life from the production date printed.
        kept = _shelf_life_expiry(text, normalized, candidates, reference_date)
        if kept is not None:
            return DateParseResult(best=kept, candidates=(*candidates, kept))
    best = _pick_best(candidates) if candidates else None
    if best is None or best.precision is DatePrecision.MONTH or best.year_inferred:
        # Nothing whole: perhaps a date printed over two or three lines (pipeline/dates/stacked.py).
        for joined in joins(text):
            found, _ = parse_with_evidence(joined, order, window, grace_days, default)
            whole = _pick_best(found) if found else None
            # Whole, and read across the join: its span (with a space for the break) is not a
            # piece of the text as read; and no plausible month and year re-read as a day in
            # another year ("EXP MAR 27" over a lot "2031" stays March 2027).
            if _is_whole(whole) and whole.text not in text and not _year_moved(best, whole, window):  # type: ignore[arg-type, union-attr]
                return DateParseResult(best=whole, candidates=found)
    if not candidates:
        return _NOTHING
    return DateParseResult(best=best, candidates=candidates)


# A year-first date whose first separator OCR read as a space ("EXP 2027 07.21" of 2027.07.21: a
# dot-matrix separator is two or three dots, and the read drops them): the year, a space, then
# month, separator and day. Read as it stands, its tail is a month and a two-digit year ("07.21",
# July 2021), a date years before the label was printed, or none at all ("12.05": 2005). Not before
# a year or a two-digit number ("2031 05.07 2025": a lot, then a production date whose second
# separator was lost; a time, "10:30", may follow).
_SPACED_YEAR_FIRST = re.compile(
    r"(?<![\d./\-])(?:20|25)\d\d( )"
    r"(?P<tail>(?:0[1-9]|1[0-2])(?P<s>[./\-])(?:0[1-9]|[12]\d|3[01]))(?![\d./\-])(?! (?:\d{4}|\d\d)(?![\d:]))"
)


def _first_separator_restored(
    text: str,
    normalized: str,
    candidates: tuple[ParsedDate, ...],
    window: YearWindow,
    order: DateOrder | None,
    grace_days: int,
    default: DateOrder,
) -> DateParseResult | None:
    """The text read again with the first separator of its :data:`_SPACED_YEAR_FIRST` dates put back
    (``EXP 2027 07.21`` read as ``EXP 2027.07.21``), where that names a plausible expiry date
    that the text as it stands does not give: ``None`` otherwise.

    Only where no plausible date was read over the tail: "LOT EXP" over "2031 05.27" is as often a
    lot and a month (May 2027, plausible) as a date, and stays the month, as "2031 05.07 2025"
    stays a lot and 5 July 2025 (reviews' findings, twenty-second and twenty-third sessions);
    "EXP 2027 07.21" as read is July 2021, more than five years before the reference date
    (``YearWindow.plausible_range``; so a lot and a month over five years old would be read as one
    date too: no label is photographed five years after it expired). And only where a keyword
    names the restored date an expiry date and it is the answer: a lot's "LOT 2027 07.21" stays as
    it was. The restored dates' texts are their spans as printed (``2027 07.21``), so that they are
    found on their lines.
    """
    # Every parse comes here (the lines' assembly asks the parser of each piece): most texts hold
    # no such shape, and stop at the search.
    shapes = list(_SPACED_YEAR_FIRST.finditer(normalized))
    if not shapes:
        return None
    first, last = window.plausible_range()
    plausible = [found.text for found in candidates if first <= found.date <= last]
    spaces = [
        match
        for match in shapes
        if not any(_overlaps(text, read, match.start("tail"), match.end("tail")) for read in plausible)
    ]
    if not spaces:
        return None
    chars = list(text)
    for match in spaces:
        chars[match.start(1)] = match["s"]
    restored = "".join(chars)
    found, _, _ = _parse(restored, order, window, grace_days, default)
    best = _pick_best(found) if found else None
    if (
        best is None
        or best.kind is not DateKind.EXPIRY
        or best.precision is not DatePrecision.DAY
        or not first <= best.date <= last
    ):
        return None
    printed = {restored[match.start() : match.end()]: text[match.start() : match.end()] for match in spaces}
    if best.text not in printed:
        return None
    as_printed = tuple(
        dataclasses.replace(date, text=printed[date.text]) if date.text in printed else date for date in found
    )
    return DateParseResult(best=as_printed[found.index(best)], candidates=as_printed)


def _overlaps(text: str, part: str, start: int, end: int) -> bool:
    """Whether an occurrence of ``part`` in ``text`` overlaps ``text[start:end]``."""
    at = text.find(part, max(0, start - len(part) + 1))
    return part != "" and 0 <= at < end


def _year_moved(best: ParsedDate | None, whole: ParsedDate, window: YearWindow) -> bool:
    """Whether a join turns ``best``, a printed month and year that is plausible, into a day of
    another year."""
    if best is None or best.precision is not DatePrecision.MONTH or best.year_inferred:
        return False
    first, last = window.plausible_range()
    return first <= best.date <= last and whole.date.year != best.date.year


def _has_expiry(candidates: tuple[ParsedDate, ...]) -> bool:
    return any(candidate.kind is DateKind.EXPIRY for candidate in candidates)


# How sure the parser is of a shelf life's date: priors, not fitted (the date corpus holds no shelf
# life to fit them on). Below a keyword-labelled expiry date's; lower again from a date that no
# keyword names the production date.
SHELF_LIFE_CONFIDENCE = 0.85
SHELF_LIFE_UNLABELLED_CONFIDENCE = 0.7


def _shelf_life_expiry(
    text: str, normalized: str, candidates: tuple[ParsedDate, ...], reference_date: dt.date
) -> ParsedDate | None:
    """The expiry date that a printed shelf life gives from the label's production date
    (``pipeline/dates/shelf_life.py``: "PKD 12/01/2024" and "BEST BEFORE 9 MONTHS FROM PACKAGING",
    12 Oct 2024), as a candidate whose text is the shelf life's phrase.

    The production date is the one date a manufacture keyword labels; with none labelled, the one
    unlabelled date, where the phrase itself counts from production ("FROM MFG", "保质期"; "SHELF
    LIFE 18 MONTHS" over "12.05.2026" may as well be an expiry date whose keyword OCR lost). It
    must be no later than ``reference_date`` (a pack is not made in the future: a later date is
    the expiry date itself, "BEST BEFORE 6 MONTHS FROM MFG" over an expiry date), its year printed,
    and no other printed date later than it (that one is the expiry date printed). Otherwise
    ``None``.
    """
    life = find_shelf_life(normalized)
    if life is None:
        return None
    made = [c for c in candidates if c.kind is DateKind.MANUFACTURE and not c.year_inferred]
    labelled = bool(made)
    if not made and life.from_production:
        made = [c for c in candidates if c.kind is DateKind.UNKNOWN and not c.year_inferred]
    made = [c for c in made if _first_day(c) <= reference_date]
    if len({(c.date, c.precision) for c in made}) != 1:
        return None
    anchor = made[0]
    if any(c.kind is DateKind.UNKNOWN and not c.year_inferred and c.date > anchor.date for c in candidates):
        return None
    date = expires(anchor.date, anchor.precision, life)
    if date is None:
        return None
    return ParsedDate(
        date=date,
        kind=DateKind.EXPIRY,
        precision=anchor.precision,
        year_inferred=False,
        confidence=SHELF_LIFE_CONFIDENCE if labelled else SHELF_LIFE_UNLABELLED_CONFIDENCE,
        text=text[life.start : life.end],
    )


def _first_day(found: ParsedDate) -> dt.date:
    """The first day a date may be: a MONTH-precision date's first day of its month."""
    return found.date.replace(day=1) if found.precision is DatePrecision.MONTH else found.date


def _needs_expiry_keyword(match: RawMatch) -> bool:
    """Whether ``match`` is a shape read only under an expiry keyword: a date glued to a shift
    code or split by a space (patterns.py)."""
    groups = match.groups.re.groupindex
    return "shift" in groups or "split" in groups


def _coder_glued(match: RawMatch) -> bool:
    """Whether ``match`` is a month with its day and two-digit year glued on ("JAN1323")."""
    return "coder" in match.groups.re.groupindex and match.groups["coder"] is not None


def _right_after_keyword(
    text: str, start: int, keywords: Sequence[Keyword], role: Role | None = None
) -> bool:
    """Whether a keyword (of ``role``, when given) ends right before ``start``: only spaces, line
    breaks, colons, dots or hyphens between ("BEST If Used By\nJAN1323", "BB:FEB0223")."""
    for keyword in keywords:
        if (
            (role is None or keyword.role is role)
            and keyword.end <= start
            and _GAP.fullmatch(text, keyword.end, start)
        ):
            return True
    return False


def _is_whole(found: ParsedDate | None) -> bool:
    """A day with its year printed."""
    return found is not None and found.precision is DatePrecision.DAY and not found.year_inferred


@lru_cache(maxsize=64)
def _year_window(reference_date: dt.date, years_back: int, years_ahead: int) -> YearWindow:
    # A frozen dataclass's __init__ costs as much as a small pattern scan; callers pass the same
    # few reference dates over and over, and the window is immutable, so it is built once each.
    return YearWindow(reference_date, years_back, years_ahead)


def parse_with_evidence(
    text: str,
    order: DateOrder | None,
    window: YearWindow,
    grace_days: int,
    default_order: DateOrder = DateOrder.DMY,
) -> tuple[tuple[ParsedDate, ...], tuple[Evidence, ...]]:
    """The candidates of ``parse_dates`` and, for each, the facts its confidence weighs.

    The calibration fit (``bench/dates_bench.py fit``) reads the evidence; ``parse_dates``
    drops it. ``text`` must already be cut to ``MAX_TEXT_CHARS``.
    """
    candidates, evidences, _ = _parse(text, order, window, grace_days, default_order)
    return candidates, evidences


def _parse(
    text: str,
    order: DateOrder | None,
    window: YearWindow,
    grace_days: int,
    default_order: DateOrder = DateOrder.DMY,
) -> tuple[tuple[ParsedDate, ...], tuple[Evidence, ...], str]:
    """:func:`parse_with_evidence`, and the text as normalised (one character for one)."""
    normalized = restore_keywords(normalize(text))
    # Every pattern holds a digit: most text without one (most of a label) stops here.
    if not _DIGIT.search(normalized):
        return (), (), normalized
    keywords = find_keywords(normalized)
    matches = find_matches(
        normalized,
        {keyword.end for keyword in keywords},
        {keyword.end for keyword in keywords if keyword.role is not Role.LOT},
    )
    if not keywords and any("half" in match.groups.re.groupindex for match in matches):
        matches = [match for match in matches if not _lone_half(normalized, match, matches)]
    guessed = by_script = False
    if order is None:
        order = legend_order(normalized)
        if order is None:
            # A year-first script, else the market's order (a US date phrase), else the default: a
            # guess, which the label's dates may overrule.
            guessed = True
            by_script = year_first_script(normalized) or canadian(normalized)
            if not by_script:
                default_order = market_order(normalized) or default_order
            order = DateOrder.YMD if by_script else default_order
    readings = _read_all(normalized, matches, order, window, grace_days, keywords)
    if guessed and _order_sensitive(matches, readings, window, by_script):
        # Year first or year last (200826: 2020-08-26 or 2026-08-20)? See ``_other_end_wins``.
        other = _other_end(order, default_order)
        again = _read_all(normalized, matches, other, window, grace_days, keywords)
        if _other_end_wins(readings, again, window, by_script):
            if not by_script:  # read against the default: as uncertain as 12/25/2026 in DMY
                again = _mark_swapped(readings, again)
            order, readings = other, again
    if guessed and order is not DateOrder.YMD and _any_swapped(readings):
        # The label's own dates show its order: 12/25/2026 is only month first, so its 03/04/2027
        # is too; unless another of its dates is only day first (then each is read as it can be).
        other = DateOrder.MDY if order is DateOrder.DMY else DateOrder.DMY
        again = _read_all(normalized, matches, other, window, grace_days, keywords)
        if not _any_swapped(again):
            readings = again
    if not readings:
        return (), (), normalized
    spans = [(match.start, match.end) for match, _ in readings]
    roles = bind_roles(normalized, spans, keywords, [reading.date for _, reading in readings])
    found = [
        (match, reading, _kind_of(role))
        for (match, reading), role in zip(readings, roles, strict=True)
        if role is not Role.LOT  # lot codes are never dates
        # a date glued to a shift code or split by a space stands only under its expiry keyword
        # (see patterns.py)
        and (role is Role.EXPIRY or not _needs_expiry_keyword(match))
        # and so does a US coder's MMMDDYY, its keyword right before it ("BEST BY JAN1323";
        # unlabelled, or with a code between, "NOV1230" is as likely a style or batch code)
        and (not _coder_glued(match) or _right_after_keyword(normalized, match.start, keywords, Role.EXPIRY))
        # a bare compact number between commas is part of an address or a list ("Rossiya,
        # 140126, Moskva": a postal code), not a printed date
        and not (role is None and match.form is Form.COMPACT and _between_commas(normalized, match))
    ]
    if len(found) > 1 and any(kind is DateKind.MANUFACTURE for _, _, kind in found):
        _unbind_stray_manufacture(normalized, keywords, found)
    candidates = []
    evidences = []
    for match, reading, kind in found:
        start, end = match.start, match.end
        original = text[start:end]
        span = normalized[start:end]
        # An ASCII span whose normalised form is just its upper case had no letter read as a digit.
        repaired = 0 if original.isascii() and span == original.upper() else _repaired(original, span)
        form = match.form
        year = "" if form is Form.COMPACT else match.year() or ""  # a compact date has no "y"
        evidence = Evidence(
            kind is DateKind.EXPIRY,
            kind is DateKind.MANUFACTURE,
            _rivals(kind, reading.date, found),
            reading.precision is DatePrecision.DAY,
            len(year) == 4 or (form is Form.COMPACT and len(original.replace(" ", "")) == 8),
            reading.year_inferred,
            form is Form.DAY_NAME
            or form is Form.NAME_DAY_YEAR
            or form is Form.NAME_YEAR
            or form is Form.YEAR_NAME_DAY,
            form is Form.COMPACT,
            reading.ambiguous,
            reading.swapped,
            repaired,
        )
        evidences.append(evidence)
        candidates.append(
            ParsedDate(
                date=reading.date,
                kind=kind,
                precision=reading.precision,
                year_inferred=reading.year_inferred,
                confidence=confidence(evidence),
                text=original,
            )
        )
    return tuple(candidates), tuple(evidences), normalized


def _read_all(
    normalized: str,
    matches: list[RawMatch],
    order: DateOrder,
    window: YearWindow,
    grace_days: int,
    keywords: Sequence[Keyword],
) -> list[tuple[RawMatch, Reading]]:
    """The matches that read as dates in ``order`` (prices and quantities are not dates: a month
    and year's shape, or a compact date's, beside a currency or a word for price), with their
    readings."""
    return [
        (match, reading)
        for match in matches
        if (reading := read(match, order, window, grace_days)) is not None
        and not (match.form is Form.MONTH_YEAR and _amount(normalized, match, keywords))
        and not (
            match.form is Form.MONTH_YEAR
            and reading.swapped
            and not _right_after_keyword(normalized, match.start, keywords)
        )
        and not (match.form is Form.COMPACT and _priced(normalized, match))
    ]


def _priced(normalized: str, match: RawMatch) -> bool:
    """Whether a compact date's digits follow a currency or a word for price on their line ("MRP
    Rs. 140135")."""
    return is_price(normalized, match.start, match.end, compact=True)


def _amount(normalized: str, match: RawMatch, keywords: Sequence[Keyword]) -> bool:
    """Whether a month-year shape is a price, or a quantity that no keyword labels ("EXP 05.27L" is
    May 2027 and a plant letter)."""
    if is_price(normalized, match.start, match.end):
        return True
    if not is_quantity(normalized, match.groups["s"] or "", match.end, match.start):
        return False
    return not _right_after_keyword(normalized, match.start, keywords)


def _between_commas(normalized: str, match: RawMatch) -> bool:
    """Whether ``match`` has a comma (and at most a space) on either side of it."""
    before = normalized[max(0, match.start - 2) : match.start].rstrip(" ")
    after = normalized[match.end : match.end + 2].lstrip(" ")
    return before.endswith(",") and after.startswith(",")


def _lone_half(normalized: str, match: RawMatch, matches: list[RawMatch]) -> bool:
    """Whether ``match`` is a date whose second separator was read as a space ("09.07 2023") on
    a label without a keyword, and no other date there prints its first separator twice (a coder
    prints its dates alike: "09.06.2023" over "09.07 2023" is two dates; "Pack 10-12 2025" is no
    date)."""
    if "half" not in match.groups.re.groupindex:
        return False
    separator = match.groups["half"]
    return not any(
        other is not match
        and other.form is Form.TRIPLE
        and normalized.count(separator, other.start, other.end) >= 2
        for other in matches
    )


def _any_swapped(readings: list[tuple[RawMatch, Reading]]) -> bool:
    # A loop, not any() over a generator: this runs on nearly every parse, mostly on one reading.
    for _, reading in readings:  # noqa: SIM110  (see the comment above)
        if reading.swapped:
            return True
    return False


def _unbind_stray_manufacture(
    normalized: str, keywords: list[Keyword], found: list[tuple[RawMatch, Reading, DateKind]]
) -> None:
    """Mends the roles that keywords reached across a line break when the dates say they cannot
    be right: a label is not made after it expires.

    OCR orders the lines of two columns as it finds them ("ผลิต/MFD 30.07.25  ควรบริโภคก่อน/BBF
    30.07.26" read "WOA/MFD", "30.07.26", "30.07.25", the Thai keywords lost), so a keyword on a line
    above may belong to the other date. With no expiry keyword, a manufacture date later than every
    unlabelled date is unlabelled too, and the later date is the expiry. Under a header of both
    keywords, a manufacture date later than the expiry date swaps roles with it.
    """
    ends = [keyword.end for keyword in keywords]

    def distant(match: RawMatch) -> bool:
        before = bisect_right(ends, match.start) - 1
        return before >= 0 and "\n" in normalized[ends[before] : match.start]

    expiry = [i for i, (match, _, kind) in enumerate(found) if kind is DateKind.EXPIRY]
    if expiry:
        if len(expiry) != 1 or not distant(found[expiry[0]][0]):
            return
        e_match, e_reading, _ = found[expiry[0]]
        for index, (match, reading, kind) in enumerate(found):
            if kind is DateKind.MANUFACTURE and reading.date > e_reading.date and distant(match):
                found[index] = (match, reading, DateKind.EXPIRY)
                found[expiry[0]] = (e_match, e_reading, DateKind.MANUFACTURE)
                return
        return
    unlabelled = [reading.date for _, reading, kind in found if kind is DateKind.UNKNOWN]
    if not unlabelled:
        return
    latest = max(unlabelled)
    for index, (match, reading, kind) in enumerate(found):
        if kind is DateKind.MANUFACTURE and reading.date > latest and distant(match):
            found[index] = (match, reading, DateKind.UNKNOWN)


def _order_sensitive(
    matches: list[RawMatch], readings: list[tuple[RawMatch, Reading]], window: YearWindow, by_script: bool
) -> bool:
    """Whether reading the year at the other end may change the answer (see ``_other_end_wins``):
    a DDMMYY or DD/MM/YY shape that the guessed order did not read, or after a script's guess read
    as an implausible date."""
    read: dict[int, dt.date] | None = None
    for match in matches:
        form = match.form
        if form is Form.COMPACT:
            if match.end - match.start != 6:
                continue
        elif form is not Form.TRIPLE or not _two_digit_ends(match):
            continue
        if read is None:
            read = {match.start: reading.date for match, reading in readings}
        date = read.get(match.start)
        if date is None:
            return True
        if by_script:
            first, last = window.plausible_range()
            if not first <= date <= last:
                return True
    return False


def _two_digit_ends(match: RawMatch) -> bool:
    """Whether a triple's first and last fields both have two digits (15/03/26)."""
    return len(match.groups["y"] or "") == 2 and len(match.groups["a"] or "") == 2


def _other_end(order: DateOrder, default_order: DateOrder) -> DateOrder:
    """The order with the year at the other end: YMD for DMY and MDY; for YMD, the default."""
    if order is not DateOrder.YMD:
        return DateOrder.YMD
    return default_order if default_order is not DateOrder.YMD else DateOrder.DMY


def _other_end_wins(
    guess: list[tuple[RawMatch, Reading]],
    other: list[tuple[RawMatch, Reading]],
    window: YearWindow,
    by_script: bool,
) -> bool:
    """Whether the label's dates read with the year at the other end overrule the guessed order.

    A year-first script is weak evidence (a brand name in kanji on a Thai label, a Thai glyph that
    OCR read as an ideograph): the order whose dates are plausible, more of them, wins. The default
    order gives way only to impossible values: where the default reads fewer dates than the other
    order (270305 is no date day first: its year 2005 is outside the window), and fewer plausible
    ones; a date the default reads stands, however old (22/01/12 is 2012).
    """
    more_plausible = _plausible_count(other, window) > _plausible_count(guess, window)
    return more_plausible and (by_script or len(other) > len(guess))


def _mark_swapped(
    guess: list[tuple[RawMatch, Reading]], other: list[tuple[RawMatch, Reading]]
) -> list[tuple[RawMatch, Reading]]:
    """``other``, its dates that the guessed order read otherwise (or not at all) marked swapped."""
    guessed = {match.start: reading.date for match, reading in guess}
    return [
        (match, reading if guessed.get(match.start) == reading.date else reading._replace(swapped=True))
        for match, reading in other
    ]


def _plausible_count(readings: list[tuple[RawMatch, Reading]], window: YearWindow) -> int:
    first, last = window.plausible_range()
    return sum(1 for _, reading in readings if first <= reading.date <= last)


def _rivals(kind: DateKind, date: dt.date, found: list[tuple[RawMatch, Reading, DateKind]]) -> int:
    """How many other dates of the same standing (expiry, or else unlabelled) disagree with it."""
    if kind is DateKind.MANUFACTURE or len(found) == 1:  # the only date has no rival
        return 0
    return min(2, sum(1 for _, other, other_kind in found if other_kind is kind and other.date != date))


def _repaired(original: str, normalized: str) -> int:
    """Characters of the span that were letters read as digits, at most two."""
    repaired = sum(1 for a, b in zip(original, normalized, strict=True) if b.isdigit() and not a.isdigit())
    return min(2, repaired)


def _pick_best(candidates: tuple[ParsedDate, ...]) -> ParsedDate | None:
    """An expiry-labelled date, else the latest unlabelled one; a manufacture date never."""
    expiry = [c for c in candidates if c.kind is DateKind.EXPIRY]
    pool = expiry or [c for c in candidates if c.kind is DateKind.UNKNOWN]
    if not pool:
        return None
    if len(pool) == 1:  # the common case: no key to compute
        return pool[0]
    # max keeps the first of equal keys, so the choice is deterministic.
    return max(pool, key=lambda c: (c.date, c.confidence))
