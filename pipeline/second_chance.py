"""Second-chance reads: which variants of a dateless photo to read, in which order, and which wins.

When the first read of a photo (the detector's windows, then the whole photo if they hold no
date) finds no date, or only a :func:`doubtful` one, the pipeline reads variants of the same
pixels (:mod:`pipeline.variants`) through the same models: first variants of the windows, then,
if no date stands among them and the whole-photo fallback is on, variants of the whole photo,
then, on a photo the text detector reads shrunk, variants of text windows around the lines the
first read saw with digits, read up close (:func:`pipeline.regions.text_windows`). A
photo whose first read finds a date beyond doubt, with no piece of a cut date line beside it
(:func:`cut_date_line`), never gets here, so its latency does not change.
After a doubtful first read only a date beyond doubt may win (``winner(..., doubted=...)``), one
that completes the doubtful date before any other; when none stands, the first read's date
stays. Before any variant of a dateless first read, its own lines are tried with one digit
swapped for the recogniser's close second choice (``DIGIT_SWAP``, see :mod:`pipeline.ctc`): a
read that costs no model run and votes as a variant read does.

Variants are tried in the configured order (``PipelineConfig.second_chance_window_variants`` and
``second_chance_photo_variants``; the defaults keep the variants that read dates the first read
missed, on realworld-dev and on synthetic labels: bench/RESULTS.md, "Second-chance reads"), at
most ``PipelineConfig.second_chance_max_variants`` of them, in rounds of ``VARIANTS_AT_ONCE``: the
reads of one round run concurrently (through the batchers, in ``aprocess``), and after each round
:func:`winner` looks for a date that stands among every read so far; if there is one (after a
doubtful first read: one that completes it, :func:`settled`), the reading stops.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pipeline.types import DateKind, DatePrecision, OcrLine, ParsedDate
from pipeline.variants import Step

__all__ = [
    "DIGIT_SWAP",
    "MAX_DIGIT_SWAPS",
    "MIN_VOTES",
    "VARIANTS_AT_ONCE",
    "Need",
    "Planned",
    "Target",
    "VariantRead",
    "completes",
    "cut_date_line",
    "doubtful",
    "lost_digit",
    "need",
    "plan",
    "read_short",
    "settled",
    "starts_in_time",
    "winner",
]

# The name of the read that costs no model run: the first read's lines with one digit swapped for
# the recogniser's close second choice (pipeline.ctc), tried before any variant is read.
DIGIT_SWAP = "text:digits"
# At most this many swaps are parsed for a photo (each a parse of its lines, which on a dateless
# page of text may read it again for dates over lines, pipeline/dates/stacked.py: a few ms).
MAX_DIGIT_SWAPS = 12
# Variant reads of one image at once: each holds up to ~135 MB of crops and model inputs at the
# caps of pipeline/ocr.py, plus its variant image (at most 12 MB, pipeline/variants.py), so this
# bounds a request's memory as WINDOWS_AT_ONCE does for the first read.
VARIANTS_AT_ONCE = 4
# A date read on one variant only, with no keyword naming it an expiry date, does not win: the first
# read already failed on this print, and variants of print that stays unreadable read date-like
# noise. Measured: every such date was wrong (realworld-dev 050, a production date's digits without
# their MFG; hard synthetic 710028, 2012-12 out of garbage), while the dates read right came with
# their keyword (019 "BBF15082027") or from two variants.
MIN_VOTES = 2
# A single read stands all the same when it holds a coder's block: at least this many different
# dates to the day, each printed whole: with its two separators ("22.06.23" over "05.07.23",
# dot-matrix on a carton: the first read saw "3:89:23", only the joined dots read it), or with its
# month spelt and a four-digit year ("13 May 2027" over "12 Jan 2027", dotted and turned 60
# degrees: hard set v3 960106). Noise read as dates gives one date, or digits without their
# separators (050, 710028 above); two whole dates are a code, and the parser's choice among them
# (the later) is its answer.
CODE_BLOCK_DATES = 2
_PRINTED_WHOLE = re.compile(
    r"\d[./\-]\d{1,2}[./\-]\d"
    r"|\d[ .\-/]?[^\W\d_]{3,}[ .,\-/]{0,2}\d{4}(?!\d)"
    r"|[^\W\d_]{3,}[ .\-/]?\d{1,2}[ .,\-/]{1,2}\d{4}(?!\d)"
    r"|(?<!\d)\d{4}[ .\-/]?[^\W\d_]{3,}[ .\-/]?\d"
)
# A date printed as a run of digits, no separator or month word: spaces and the letters the parser
# reads as digits (O for 0) aside ("180925", "18 09 25", "18O925").
_DIGIT_RUN = re.compile(r"[\dOoIl ]+")
# What is left of a day-month-year line cut short, read as a month: two two-digit numbers and a
# separator whose second is a month too (as much a day and month as a month and year), or a
# four-digit year and a month (a year-first date cut before its day).
_NUMBER_PAIR = re.compile(r"\d{2} ?[./\-] ?(\d{2})")
_YEAR_MONTH = re.compile(r"\d{4} ?[./\-] ?\d{1,2}")
# A year printed as the two digits 20: a four-digit year 20xx cut after its century.
_CUT_YEAR = re.compile(r"(?<![\d./\-])20$")
# A date line's piece cut at a separator (cut_date_line()): a tail (a separator, a month, the same
# separator and a year; or a separator and a year 19xx or 20xx), or a head (a day and a slash; or a
# day, a month and the same separator twice). Months 1 to 12, days 1 to 31.
_CUT_DATE = re.compile(
    r" ?(?:([./\-])(?:0?[1-9]|1[0-2])\1(?:\d\d|(?:19|20)\d\d)|[./\-](?:19|20)\d\d"
    r"|(?:0?[1-9]|[12]\d|3[01])(?:/|([./\-])(?:0[1-9]|1[0-2])\2)) ?"
)
# What follows a date read short on its line (read_short()): a space and one to four digits.
_NUMBER_AFTER = re.compile(r" +\d{1,4} *")
# A day-first numeric date with one one-digit field beside two-digit ones (lost_digit()).
_ONE_DIGIT_FIELD = re.compile(r"(?:\d[./\-]\d\d|\d\d[./\-]\d)[./\-]\d{2,4}")
# What a doubtful date's text and its completion are compared on (completes()).
_ALNUM = re.compile(r"[^0-9A-Za-z]+")


class Need(enum.Enum):
    """Whether a photo's first read needs the second chance, and why."""

    NONE = "none"  # it found a date beyond doubt (or the second chance is off)
    DATELESS = "dateless"  # it found no date
    DOUBTFUL = "doubtful"  # a doubtful() one, or one beside a cut_date_line(): see winner()


def need(
    best: ParsedDate | None,
    dot_print: Callable[[], bool],
    lines: Sequence[OcrLine] = (),
    expiry_unread: Callable[[], bool] = lambda: False,
    plausible: tuple[dt.date, dt.date] | None = None,
) -> Need:
    """What the first read's best date (``None``: none) asks of the second chance.

    Args:
        best: the first read's best date.
        dot_print: whether the photo holds dot-matrix print (asked only when it matters, see
            :func:`doubtful`).
        lines: the first read's lines (see :func:`cut_date_line`).
        expiry_unread: whether a line names an expiry date the parser cannot read
            (``pipeline.dates.unread``; asked only of a best date no keyword names an expiry).
        plausible: the first and last date a label plausibly prints
            (``pipeline.dates.years.YearWindow.plausible_range``; see :func:`read_short`).
    """
    if best is None:
        return Need.DATELESS
    if doubtful(best, dot_print) or read_short(best, lines, plausible):
        return Need.DOUBTFUL
    if best.kind is not DateKind.EXPIRY and (cut_date_line(lines) or expiry_unread()):
        return Need.DOUBTFUL
    return Need.NONE


def read_short(
    found: ParsedDate, lines: Sequence[OcrLine], plausible: tuple[dt.date, dt.date] | None
) -> bool:
    """Whether a date is what is left of a date the OCR read short: it lies outside the range a
    label plausibly prints (``plausible``; ``None``: no range), more than five years before the
    reference date or ten after it (``pipeline.dates.years``), and its line goes on with a number
    of one to four digits after a space (``130520`` of ``EXP 130520 25``, ``EXP 13052025`` with a
    space read into it: realworld-dev 049 sent at 1,024 px, 20 May 2013). The parser reads a
    date outside the range only when no reading of its text is plausible, and a number after it
    is a piece of it. A time after it (``JUN 08 21 06:45``) is no piece, and an old photo's date
    with nothing after it (``11.10.2019``, its product long expired by the reference date) is
    read whole: neither pays for the second chance. Only a date that :func:`completes` it
    replaces it (``winner(..., strict=True)``)."""
    if plausible is None or plausible[0] <= found.date <= plausible[1]:
        return False
    return any(
        (at := line.text.find(found.text)) >= 0 and _NUMBER_AFTER.fullmatch(line.text, at + len(found.text))
        for line in lines
    )


def cut_date_line(lines: Sequence[OcrLine]) -> bool:
    """Whether a line of the read is a piece of a date line that the text detector cut at one of
    the date's separators: the date's tail from a separator on (``/06/27`` of ``EXP. 20/06/27``
    turned 60 degrees, cut after ``20/``: read alone, June 2027; ``/2024`` of ``21/02/2024``, where
    the photo's production date answered: hard sets v4 980180, v5 1000213), or its head up to one
    (``20/``, ``21.02.``). Then the photo's best date, unless a keyword names it an expiry date, is
    doubtful, as :func:`doubtful`'s are: the second chance reads the photo's variants, whose boxes
    may hold the line whole. Prices (``59.``, ``12.50``, ``-1.99``, ``4.99-``), a phone number's
    tail (``-12-3456``) and other numbers (``1.20.``, ``-1000``) are no pieces: the same separator
    twice, a month 1 to 12, a four-digit year 19xx or 20xx."""
    return any(_CUT_DATE.fullmatch(line.text) is not None for line in lines)


class Target(enum.StrEnum):
    """What a variant is made of: every detector window, the whole photo, or every text window
    (:func:`pipeline.regions.text_windows`: the whole photo's read up close where it read digits)."""

    WINDOW = "window"
    PHOTO = "photo"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Planned:
    """One variant read to make: its target and its steps."""

    target: Target
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        """``target:steps``, e.g. ``window:dots`` or ``photo:contrast+upscale``."""
        return f"{self.target}:{'+'.join(self.steps)}"


@dataclass(frozen=True, slots=True)
class VariantRead:
    """The lines read on one variant (boxes in photo pixels) and the parser's best date in them."""

    name: str
    lines: tuple[OcrLine, ...]
    best: ParsedDate | None
    # Every date the parser found in the lines (``best`` among them).
    dates: tuple[ParsedDate, ...] = ()
    # Whether a line's impossible date was read with the recogniser's second choice for a digit
    # (pipeline.impossible_dates): such a read votes, but holds no coder's block (_code_block).
    repaired: bool = False


def plan(
    windows: Sequence[tuple[Step, ...]],
    photo: Sequence[tuple[Step, ...]],
    limit: int,
    text: Sequence[tuple[Step, ...]] = (),
) -> list[list[Planned]]:
    """The rounds of variants to try: the windows' variants, then the photo's, then the text
    windows', in their order, at most ``limit`` in all, in rounds of at most ``VARIANTS_AT_ONCE``
    that never mix two targets (a target's variants are read only if no earlier one read a date).

    Args:
        windows: the windows' variants (empty when the first read read no windows).
        photo: the photo's variants (empty when the first read did not read the whole photo).
        limit: ``PipelineConfig.second_chance_max_variants``.
        text: the text windows' variants (empty when the photo has none to read up close).
    """
    planned: list[list[Planned]] = []
    left = limit
    for target, variants in ((Target.WINDOW, windows), (Target.PHOTO, photo), (Target.TEXT, text)):
        reads = [Planned(target, steps) for steps in variants][: max(0, left)]
        left -= len(reads)
        planned += _chunks(reads)
    return planned


def _chunks(items: list[Planned]) -> Iterator[list[Planned]]:
    for start in range(0, len(items), VARIANTS_AT_ONCE):
        yield items[start : start + VARIANTS_AT_ONCE]


def doubtful(found: ParsedDate, dot_print: Callable[[], bool] = lambda: True) -> bool:
    """Whether a date the first read found is too weak to end the reading, so that the second
    chance runs as if it had found none (hard set v2, bench/RESULTS.md "seventh session"):

    - on dot-matrix print (``dot_print()``, see :func:`pipeline.variants.dot_grid`), a date that
      no keyword names an expiry date and whose year was not printed: what is left of a line whose
      year the read lost ("11 MAY" of ``VAL: 11 MAY 2025`` in sparse dots, whose year then came
      from the reference date). Not on other print: a label's unlabelled "01 DEC" is common
      there (6 of the 96 UK labels), read right, and its variants only cost time;
    - a line cut short, read as a month or with its year's century only: two two-digit numbers
      whose second is a month too (``06-11`` as June 2011: as much a day and month whose year
      the read cut off, ``06-11-29``, as a month and a year; ``EXP 06/26`` is no day and month,
      and not doubtful), an unlabelled year and month (``2024-03`` of ``2024-03-10``; ``VAL:
      2026-03`` is a label's own format), a month-name date whose year is the two digits 20
      (``14 Apr 20`` of ``14 Apr 2030``; read as a year, 20 is 2020);
    - a date that lost a digit (:func:`lost_digit`), on any print.

    A labelled day and month without a year ("Use by 12 AUG") is not doubtful. The default
    ``dot_print`` holds every such date doubtful: a date that replaces a doubtful one must be
    beyond doubt on any print.
    """
    text = found.text.strip()
    if lost_digit(found):
        return True
    if found.precision is DatePrecision.MONTH:
        pair = _NUMBER_PAIR.fullmatch(text)
        if pair is not None and 1 <= int(pair.group(1)) <= 12:
            return True
        if found.kind is not DateKind.EXPIRY and _YEAR_MONTH.fullmatch(text) is not None:
            return True
    if not found.year_inferred and found.date.year == 2020 and _CUT_YEAR.search(text) is not None:
        return True
    return found.kind is not DateKind.EXPIRY and found.year_inferred and dot_print()


def lost_digit(found: ParsedDate) -> bool:
    """Whether a day-first numeric date prints one field with one digit and the others with two
    (``1/11/2025``, ``24-9-26``, ``2.08.30``): a printer that pads one field pads them all, and
    the recogniser drops a digit of faint or blurred dots (hard set v4 980039: ``BBD: 21/11/2025``
    read ``1/11/2025``, its three variants ``21/11/2025``). Such a date is :func:`doubtful` on any
    print (the dot grid of small dots in a big photo goes unseen), and only a date that
    :func:`completes` it replaces it (``winner(..., strict=True)``): a label that prints
    ``28/1/25`` (realworld5 001) keeps it, at the cost of its variants' reads. Among 2,229 stored
    reads of the real and synthetic sets (bench/RESULTS.md, twenty-second session) the shape was
    the answer of that one label and of three misreads."""
    return found.precision is DatePrecision.DAY and _ONE_DIGIT_FIELD.fullmatch(found.text.strip()) is not None


def winner(
    reads: Sequence[VariantRead], doubted: ParsedDate | None = None, strict: bool = False
) -> tuple[VariantRead, int] | None:
    """The read whose date is best supported, and how many reads support it.

    Each read votes for the parser's best date in its own lines (a coder detector's unlabelled
    run of digits excepted, :func:`_coder_digits`). A date stands only with
    ``MIN_VOTES`` votes, or with a keyword naming it an expiry date in one of its reads (``EXP``,
    ``BBF``, ``Use by``...), or in a read that holds a coder's block (``CODE_BLOCK_DATES``), or
    in the coder detector's read of the image as it is (:func:`_own_pixels`). Of
    the dates that stand, the one with the most votes wins; a tie goes to
    the date read with the higher parser confidence, then to the one read first (the plan's
    order). Of the reads voting for the winning date, the one with the highest confidence (the
    first, on a tie) gives the lines.

    ``doubted`` is the first read's :func:`doubtful` date (or its unlabelled date beside a
    :func:`cut_date_line` or an unreadable expiry date), when it found one: then a read whose date
    is doubtful too does not vote (it would only read the weak date again), and a standing date
    that :func:`completes` it wins over any that does not, whatever their votes: the doubtful
    date is what the first read saw of the expiry line, and another line's date read whole more
    often is still another line's (hard set v2 940213: ``MFD 19-07-29`` over a dotted ``USE BY
    06-11-29`` first read as ``06-11``). Among those, when no keyword named ``doubted`` an expiry
    date, a standing date that one names wins over those none names, whatever their votes.
    ``strict`` (``doubted`` is :func:`read_short`): only a standing date that completes it wins.

    Returns:
        ``(read, votes)``, or ``None`` when no date stands.
    """
    votes: dict[object, list[VariantRead]] = {}
    for read in reads:
        if read.best is None or (doubted is not None and doubtful(read.best)) or _coder_digits(read):
            continue
        votes.setdefault(read.best.date, []).append(read)
    standing = [
        voters
        for voters in votes.values()
        if len(voters) >= MIN_VOTES
        or any(map(_named, voters))
        or any(map(_code_block, voters))
        or any(_own_pixels(read, doubted) for read in voters)
    ]
    if doubted is not None:
        completing = [voters for voters in standing if _completing(voters, doubted)]
        standing = completing if completing or strict else standing
        if doubted.kind is not DateKind.EXPIRY:
            # A date a keyword names an expiry date, read on a variant, outranks unlabelled ones
            # read more often: the doubt may be that the label's expiry line went unread (v5
            # 1000414: "BBF: 17.19.2029" beside "08.02.2027", read "17.10.2029" on one variant).
            standing = [voters for voters in standing if any(map(_named, voters))] or standing
    if not standing:
        return None

    def strength(voters: list[VariantRead]) -> tuple[int, float]:
        return len(voters), max(_confidence(read) for read in voters)

    # max() keeps the first of equals, and dicts keep the order dates were first read in.
    voters = max(standing, key=strength)
    return max(voters, key=_confidence), len(voters)


def settled(reads: Sequence[VariantRead], doubted: ParsedDate | None = None) -> bool:
    """Whether the reading may stop: a date stands (:func:`winner`) and, after a doubtful first
    date, it completes that date. A date of another line does not end the reading after a
    doubtful one: a later variant may still read the doubtful line whole. A date that
    :func:`lost_digit` ends the reading too once ``MIN_VOTES`` reads read it again as it is: the
    label prints it so ("28/1/25"), and more variants would only cost time."""
    won = winner(reads, doubted)
    if won is not None and (doubted is None or _completing([won[0]], doubted)):
        return True
    return doubted is not None and lost_digit(doubted) and _read_again(reads, doubted) >= MIN_VOTES


def _read_again(reads: Sequence[VariantRead], doubted: ParsedDate) -> int:
    """How many reads answer ``doubted`` as it was read: its date and its text, separators aside."""
    text = _ALNUM.sub("", doubted.text)
    return sum(
        1
        for read in reads
        if read.best is not None and read.best.date == doubted.date and _ALNUM.sub("", read.best.text) == text
    )


def completes(found: ParsedDate, doubted: ParsedDate) -> bool:
    """Whether ``found`` is ``doubted`` read whole: the letters and digits of ``doubted``'s text
    (case and separators aside) run on in ``found``'s, which holds more (``06-11`` in ``06-11-29``,
    ``11 MAY`` in ``11 MAY 2025``, ``14 Apr 20`` in ``14 Apr 2030``; ``06/27`` in ``20/06/27``, not
    in ``06/27`` read again)."""
    part = _ALNUM.sub("", doubted.text).upper()
    whole = _ALNUM.sub("", found.text).upper()
    return bool(part) and part in whole and part != whole


def _completing(voters: Sequence[VariantRead], doubted: ParsedDate) -> bool:
    return any(read.best is not None and completes(read.best, doubted) for read in voters)


def _code_block(read: VariantRead) -> bool:
    """Whether the read holds ``CODE_BLOCK_DATES`` different dates to the day, each printed whole.
    Not a read whose dates include one repaired from the recogniser's second choices
    (``VariantRead.repaired``): an impossible date is noise's mark, and the block's rule is that
    noise does not read two whole dates."""
    if read.repaired:
        return False
    whole = {
        found.date
        for found in read.dates
        if found.precision is DatePrecision.DAY and _PRINTED_WHOLE.search(found.text) is not None
    }
    # The read's own answer is one of them: a compact or month date beside a block is no block's.
    return len(whole) >= CODE_BLOCK_DATES and read.best is not None and read.best.date in whole


def _steps_of(read: VariantRead) -> list[str]:
    """The steps in a read's name (``Planned.name``'s ``target:steps``); ``DIGIT_SWAP``'s
    ``text:digits``, a read of no variant, gives ``digits``, which is no Step."""
    return read.name.partition(":")[2].split("+")


def _coder_digits(read: VariantRead) -> bool:
    """Whether a coder detector's read (``Step.CODER``) answers an unlabelled run of digits
    (``180925``, ``18 09 25``): it finds the digit runs of a code (lot, time, a production date whose MFG is
    not printed) that the wheel's detector passes over, and such a run is the weakest date there
    is; it does not vote (realworld-dev 050: its production date's digits, read by it and by
    one variant, stood for the expiry)."""
    found = read.best
    return (
        found is not None
        and Step.CODER in _steps_of(read)
        and found.kind is DateKind.UNKNOWN
        and _DIGIT_RUN.fullmatch(found.text.strip()) is not None
    )


def _own_pixels(read: VariantRead, doubted: ParsedDate | None) -> bool:
    """Whether the read is of the image's own pixels, its text found by the coder detector
    (``Step.CODER`` alone), and its date one that would end a first read: no step changed what
    the recogniser sees, so such a date needs no second vote (``MIN_VOTES`` is for pixels a
    variant changed). Not a :func:`doubtful` date (a first read's would not end the reading
    either), and after a doubtful first read only one that :func:`completes` it: another line's
    date read once does not replace what the first read saw of the expiry line."""
    found = read.best
    return (
        found is not None
        and _steps_of(read) == [Step.CODER]
        and not doubtful(found)
        and (doubted is None or completes(found, doubted))
    )


def _named(read: VariantRead) -> bool:
    return read.best is not None and read.best.kind is DateKind.EXPIRY


def _confidence(read: VariantRead) -> float:
    return read.best.confidence if read.best is not None else 0.0


def starts_in_time(deadline: float | None, read_s: float, now: float) -> bool:
    """Whether a round of variant reads may start: one read of its target (timed on the first
    read, ``read_s`` seconds) ends before ``deadline`` (``time.monotonic()`` values; ``None``: no
    deadline). A round started later would only be dropped by the batchers, its work wasted."""
    return deadline is None or now + read_s <= deadline
