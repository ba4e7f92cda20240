"""Month names in Portuguese, English and Spanish, full and abbreviated, accents stripped."""

from __future__ import annotations

__all__ = ["MONTH_AT_WORD_START", "MONTH_PATTERN", "month_number"]

_MONTH_WORDS = (
    "JAN JANUARY JANEIRO ENE ENERO",
    "FEB FEBRUARY FEV FEVEREIRO FEBRERO",
    "MAR MARCH MARCO MARZO",
    "APR APRIL ABR ABRIL",
    "MAY MAI MAIO MAYO",
    "JUN JUNE JUNHO JUNIO",
    "JUL JULY JULHO JULIO",
    "AUG AUGUST AGO AGOSTO",
    "SEP SEPT SEPTEMBER SET SETEMBRO SEPTIEMBRE SETIEMBRE",
    "OCT OCTOBER OUT OUTUBRO OCTUBRE",
    "NOV NOVEMBER NOVEMBRO NOVIEMBRE",
    "DEC DECEMBER DEZ DEZEMBRO DIC DICIEMBRE",
)
_NUMBERS = {word: month for month, words in enumerate(_MONTH_WORDS, start=1) for word in words.split()}


def _alternation(words: list[str], word_start: bool, top: bool = True) -> str:
    """A regex matching exactly ``words``, as a tree of shared prefixes ("J(?:AN(?:UARY|EIRO)?|...)").

    A longer word is tried before its prefix (SEPTEMBER before SEP), as in a longest-first list.
    The first characters are plain literals, so the engine can skip ahead to them; with
    ``word_start`` each is followed by a look-behind that keeps it from continuing a word.
    """
    rests_by_first: dict[str, list[str]] = {}
    for word in words:
        rests_by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, rests in sorted(rests_by_first.items()):
        longer = [rest for rest in rests if rest]
        tail = f"(?:{_alternation(longer, False, top=False)})" if longer else ""
        if tail and len(longer) < len(rests):  # the word may also end here: try the longer ones first
            tail += "?"
        # OCR reads the letter O as a zero (N0V, 0CT): both are accepted, as two literals up front.
        for char in ("O", "0") if first == "O" and top else ("[O0]",) if first == "O" else (first,):
            guard = f"(?<![A-Z]{char})" if word_start else ""
            branches.append(f"{char}{guard}{tail}")
    return "|".join(branches)


# Every month word, as a regex. MONTH_AT_WORD_START also requires that no letter comes before it.
MONTH_PATTERN = _alternation(sorted(_NUMBERS), word_start=False)
MONTH_AT_WORD_START = _alternation(sorted(_NUMBERS), word_start=True)


def month_number(name: str) -> int:
    """1..12 for a name ``MONTH_PATTERN`` matched."""
    return _NUMBERS[name.replace("0", "O")]
