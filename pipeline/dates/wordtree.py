"""A list of words as one regex: a tree of shared prefixes, longest word first.

Python's regex engine tries the branches of an alternation one by one at every position; a tree
whose first characters are plain literals lets it skip ahead to positions where a word can start,
and tries each shared prefix once (``J(?:AN(?:UARY|EIRO)?|...)``). Months and keywords use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

__all__ = ["word_tree"]

# In a word, a space stands for what OCR prints between two words of a keyword: nothing, a space,
# a dot, a hyphen or an apostrophe ("USE BY", "USEBY", "USE-BY", "MIND. HALTBAR", "JUSQU'AU").
_GAP = r"[ .'\-]{0,2}"


def _char(char: str) -> str:
    return _GAP if char == " " else re.escape(char)


def word_tree(
    words: Iterable[str],
    guarded: Callable[[str], bool] = lambda first: False,
    *,
    zero_for_o: bool = False,
    ends: Mapping[str, str] | None = None,
) -> str:
    """A regex matching exactly ``words`` (a space in a word matches ``_GAP``).

    A longer word is tried before its prefix (SEPTEMBER before SEP), as in a longest-first list,
    and a word with a gap after the words without one that share its start (EXPIRY before "E X P").
    Each first character for which ``guarded`` is true is followed by a look-behind that keeps it
    from continuing a word of letters (so "VAL" is not found in "INTERVAL"); the look-behind
    comes after the character so the engine can still skip ahead to it. With ``zero_for_o`` an O
    may also be read as a zero (N0V, 0CT), as OCR prints it. ``ends`` gives some words a regex
    that must follow them (a lone letter's own rules), tried after the longer words.

    The whole tree is one alternation whose branches each open with a literal, so the engine
    knows the characters a match can start with and skips the others.
    """
    return _tree(sorted(set(words)), guarded, zero_for_o, ends or {}, "")


def _tree(
    words: list[str], guarded: Callable[[str], bool], zero_for_o: bool, ends: Mapping[str, str], prefix: str
) -> str:
    top = not prefix
    rests_by_first: dict[str, list[str]] = {}
    for word in words:
        rests_by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    # A gap last: "E X P" matched with empty gaps is a prefix of "EXPIRY", which must be tried first.
    for first, rests in sorted(rests_by_first.items(), key=lambda item: (item[0] == " ", item[0])):
        longer = [rest for rest in rests if rest]
        end = ends.get(prefix + first, "") if len(longer) < len(rests) else None
        tail = f"(?:{_tree(longer, guarded, zero_for_o, ends, prefix + first)})" if longer else ""
        if tail and end:  # the word may also end here, where its own end follows
            tail = f"{tail[:-1]}|{end})"
        elif tail and end is not None:  # the word may also end here: try the longer ones first
            tail += "?"
        elif end:
            tail = end
        chars = (_char(first),)
        if first == "O" and zero_for_o:
            chars = ("O", "0") if top else ("[O0]",)
        for char in chars:
            guard = f"(?<![^\\W\\d_]{char})" if top and guarded(first) else ""
            branches.append(f"{char}{guard}{tail}")
    return "|".join(branches)
