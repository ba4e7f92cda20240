"""The regex tree of words that months and keywords are matched with (pipeline/dates/wordtree.py)."""

from __future__ import annotations

import re

import pytest

from pipeline.dates.wordtree import word_tree


@pytest.mark.parametrize(
    ("words", "text", "expected"),
    [
        # A longer word before its prefix: SEPTEMBER, not SEP and "TEMBER".
        (["SEP", "SEPTEMBER"], "SEPTEMBER", "SEPTEMBER"),
        # A word with gaps ("E X P": E.X.P, E X P, EXP) is tried after the words without one that
        # share its prefix: EXPIRY whole, not E-X-P with empty gaps and then "IRY".
        (["E X P", "EXPIRY"], "EXPIRY", "EXPIRY"),
        (["E X P", "EXPIRY"], "E.X.P", "E.X.P"),
        (["B B", "BBE"], "BBE", "BBE"),
        (["USE BY"], "USE-BY", "USE-BY"),
    ],
)
def test_a_word_is_matched_whole(words: list[str], text: str, expected: str) -> None:
    match = re.compile(word_tree(words)).match(text)
    assert match is not None and match.group() == expected
