"""Greedy CTC decoding, with a digit-context repair taken from the model's own second choices.

PP-OCR's recogniser gives, for each of its T time steps, a probability over its classes (CTC's
blank, the dictionary's characters, a space). The greedy read takes the most likely class at each
step, merges repeats and drops blanks. On dot-matrix and inkjet print that read often puts one
wrong character inside a number: a zero whose ring misses a dot or two read as ``C``
(``01-07-2C27``), a stray drop read as a quote (``0'4102026`` for 04102026), a 7 as ``=``. The
model usually ranks the right digit (or a blank, for a stray mark) close behind; the parser cannot
see that, and its own repairs (``pipeline.dates.normalize``) cover only letters that look like
digits.

``CtcDecoder`` reads each line greedily and then, only for a look-alike (a letter or mark that
print or OCR makes of a digit: ``C``, ``O``, ``=``, a quote...) that sits between two digits (or
between a digit and a date separator), replaces it with the most likely digit or date separator
at its step when the model gives that at least ``DIGIT_CONTEXT_RATIO`` of the greedy choice's
probability; a stray mark with a blank that likely becomes nothing. Other letters ("5x200",
"2027年6月"), letters beside letters (keywords, ``LOT``), and characters at a number's edge
(``130527B``, a printer's suffix) are never touched.

Each read also keeps its **digit alternatives**: the text with one digit replaced by the digit the
model ranked second at that step, where that digit has at least ``SWAP_RATIO`` of the greedy
digit's probability (at most ``MAX_ALTERNATIVES``, the closest second first). Dot-matrix print
makes digits of each other (an 8 of a 0 whose dots smear: ``84 Aug 2029`` with the 0 at 0.35 to
the 8's 0.63); nothing here chooses between them, the pipeline tries them only where the parser
can tell a day from a 84: on a photo whose reads hold no date (``pipeline.second_chance``), and on
a whole numeric date the parser refuses (``pipeline.impossible_dates``: ``31.10.2050``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["DIGIT_CONTEXT_RATIO", "MAX_ALTERNATIVES", "SWAP_RATIO", "CtcDecoder", "Read", "greedy_steps"]

# How close behind the greedy choice the model must rank a digit, a date separator or a blank for
# it to replace a character inside a number. Chosen on realworld-dev and the UK held-out split
# (bench/RESULTS.md, "digit-context repair"): at 0.05 the model's second choice is right on the
# misreads seen there, and no UK read changes.
DIGIT_CONTEXT_RATIO = 0.05

# How close behind a read digit the model must rank another digit for the swap to be an
# alternative, and how many alternatives a read keeps. Hard set v2's 940269 ranks its 0 at 0.56 of
# the 8 read; digits read surely (0.99 and more) have no second above 0.01.
SWAP_RATIO = 0.25
MAX_ALTERNATIVES = 3

_DIGITS = frozenset("0123456789")
# The only characters a repair touches: letters and marks that print or OCR makes of a digit or a
# separator. Not other letters ("5x200", "10h30"), not CJK ("2027年6月"), not spaces or colons.
_MARKS = frozenset("'`\"^*~\u00b4\u2018\u2019")  # ... and the acute accent and curly quotes
_LOOK_ALIKES = frozenset("CcDOoQUuIil|!JTtZzSsBbGgqAEF=,;") | _MARKS
_SEPARATORS = frozenset("./-")
# What a step inside a number may become. Not a space: "04 10" is two numbers, and a space the
# model put there is kept as it is (spaces are never replaced, nor put in).
_NUMBER_CHARS = _DIGITS | _SEPARATORS


class Read(NamedTuple):
    """One crop's read: its text, the mean probability of its characters, its digit
    alternatives (see the module's docstring; most likely first), and whether it is the read of
    the crop turned by 180 degrees, kept over the read as cut (``pipeline.ocr.better_orientation``)."""

    text: str
    score: float
    alternatives: tuple[str, ...] = ()
    turned: bool = False


class CtcDecoder:
    """Greedy CTC decoding over one recogniser's dictionary.

    Args:
        characters: the model's classes in order: CTC's blank first (index 0), then the
            dictionary's characters, then a space, as ``rapidocr``'s ``CTCLabelDecode`` builds them.
        digit_context_ratio: see ``DIGIT_CONTEXT_RATIO``; 0 turns the repair off.
    """

    def __init__(self, characters: list[str], digit_context_ratio: float = DIGIT_CONTEXT_RATIO) -> None:
        self.characters = characters
        self._ratio = digit_context_ratio
        # What a look-alike may become: a digit or a date separator (or, for a mark, nothing).
        self._glyph_classes = np.array(
            [i for i, c in enumerate(characters) if i > 0 and c in _NUMBER_CHARS], dtype=np.int64
        )
        self._digit_classes = np.array(
            [i for i, c in enumerate(characters) if i > 0 and c in _DIGITS], dtype=np.int64
        )

    def __call__(self, probs: np.ndarray) -> list[Read]:
        """``(N, T, classes)`` float probabilities to N reads: text, mean character probability
        and digit alternatives.

        The mean is over the greedy read's characters (0.0 for an empty read), as PP-OCR reports
        it: a repaired character keeps its step's greedy probability, so a repair never raises a
        line's score above what the model gave it.
        """
        return [self._line(row) for row in probs]

    def _line(self, probs: np.ndarray) -> Read:
        best = probs.argmax(axis=1)
        steps = greedy_steps(best)
        if steps.size == 0:
            return Read("", 0.0)
        classes = best[steps]
        score = float(probs[steps, classes].mean())
        chars = [self.characters[c] for c in classes]
        if self._ratio > 0 and len(chars) >= 3:
            chars = self._repair(probs, steps, classes, chars)
        return Read("".join(chars), score, self._alternatives(probs, steps, classes, chars))

    def _alternatives(
        self, probs: np.ndarray, steps: np.ndarray, classes: np.ndarray, chars: list[str]
    ) -> tuple[str, ...]:
        """The text with one read digit swapped for a close second digit (see ``SWAP_RATIO``)."""
        found: list[tuple[float, int, str]] = []
        for k, char in enumerate(chars):
            # A digit as the model read it (not one the repair made of a look-alike).
            if char not in _DIGITS or self.characters[classes[k]] != char:
                continue
            row = probs[steps[k]]
            others = self._digit_classes[self._digit_classes != classes[k]]
            second = int(others[row[others].argmax()])
            ratio = float(row[second] / row[classes[k]])
            # A digit that repeats its neighbour's class on an adjacent step is that neighbour
            # (CTC merges the two): no text the model could have meant.
            merged = (k > 0 and classes[k - 1] == second and steps[k - 1] == steps[k] - 1) or (
                k + 1 < len(chars) and classes[k + 1] == second and steps[k + 1] == steps[k] + 1
            )
            if ratio >= SWAP_RATIO and not merged:
                found.append((ratio, k, self.characters[second]))
        found.sort(key=lambda item: -item[0])
        return tuple(
            "".join(chars[:k]) + digit + "".join(chars[k + 1 :]) for _, k, digit in found[:MAX_ALTERNATIVES]
        )

    def _repair(
        self, probs: np.ndarray, steps: np.ndarray, classes: np.ndarray, chars: list[str]
    ) -> list[str]:
        out = list(chars)
        for k in range(1, len(chars) - 1):
            char = chars[k]
            before2 = chars[k - 2] if k >= 2 else ""
            if char not in _LOOK_ALIKES or not _inside_number(before2, chars[k - 1], chars[k + 1]):
                continue
            step = steps[k]
            row = probs[step]
            bar = self._ratio * row[classes[k]]
            # A digit or separator first: at a character's own step the blank often holds most of
            # what the character leaves, and a letter read there is a glyph, not nothing.
            choice = int(self._glyph_classes[row[self._glyph_classes].argmax()])
            if row[choice] >= bar:
                # CTC merges a repeat on adjacent steps: a digit that repeats its neighbour's
                # class there is that neighbour, not a second one.
                merged = (classes[k - 1] == choice and steps[k - 1] == step - 1) or (
                    classes[k + 1] == choice and steps[k + 1] == step + 1
                )
                out[k] = "" if merged else self.characters[choice]
            elif char in _MARKS and row[0] >= bar:
                out[k] = ""  # a stray mark: a speck of ink the model half saw as nothing
        return out


def greedy_steps(best: np.ndarray) -> np.ndarray:
    """CTC's greedy collapse of ``(T,)`` class indices, one a step (class 0 the blank): the steps
    whose class is read, each the first of a run of repeats that is not the blank; ``(K,)`` int64."""
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    return np.flatnonzero(keep)


def _inside_number(before2: str, before: str, after: str) -> bool:
    """Whether a character between ``before`` and ``after`` (``before2`` before those) sits
    inside a number or a date: after a digit, before a digit or a separator; or after a digit and
    a separator, before a digit ("15/C3", not "REF-C12")."""
    if before in _DIGITS:
        return after in _NUMBER_CHARS
    return before in _SEPARATORS and before2 in _DIGITS and after in _DIGITS
