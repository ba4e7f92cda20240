"""The expiry date parser: OCR text in, the dates on the label and the expiry date out.

Modules, in the order the text flows through them:

- ``normalize``: OCR digit confusions repaired where digits are expected, upper case, no
  accents, one character for one, so spans map back to the caller's text.
- ``patterns`` and ``months``: the shapes a date takes (numeric, compact, year first, named
  months of many languages); ``wordtree`` turns lists of words into fast regexes.
- ``order``: the day/month/year order the label itself gives (a printed legend, a year-first
  script), when the caller gives none.
- ``reading`` and ``years``: a match turned into a real date inside the year window, or nothing.
- ``prices``: month-year shapes that are prices ("12.30 €").
- ``keywords`` and ``binding``: which keyword labels which date (expiry, manufacture, lot), in
  many languages, before or after the date, or in a header over a column of dates.
- ``shelf_life``: an expiry date printed as a time from the production date ("BEST BEFORE 9
  MONTHS FROM PACKAGING", "保质期: 12个月").
- ``confidence``: how likely a date is the expiry date read right.
- ``parser``: ``parse_dates``, which ties them together and chooses the expiry date.
- ``unread``: whether a line names an expiry date whose text the parser cannot read (the
  pipeline's second chance then reads the photo again).
"""

from pipeline.dates.normalize import MAX_TEXT_CHARS
from pipeline.dates.parser import DateParseResult, parse_dates
from pipeline.types import ParsedDate

__all__ = ["MAX_TEXT_CHARS", "DateParseResult", "ParsedDate", "parse_dates"]
