"""pipeline/ctc.py: greedy CTC decoding, its digit-context repair and digit alternatives, on
probability arrays."""

from __future__ import annotations

import numpy as np
import pytest
from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode

from pipeline.ctc import MAX_ALTERNATIVES, SWAP_RATIO, CtcDecoder, Read

_DICTIONARY = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZxh:/.-',=%年月日")
_CLASSES = ["blank", *_DICTIONARY, " "]
_INDEX = {c: i for i, c in enumerate(_CLASSES)}


def _steps(*steps: dict[str, float]) -> np.ndarray:
    """One line's ``(T, classes)`` probabilities: each step's named classes, the rest share 1e-4."""
    probs = np.full((len(steps), len(_CLASSES)), 1e-4, dtype=np.float32)
    for t, step in enumerate(steps):
        for char, p in step.items():
            probs[t, _INDEX[char]] = p
    return probs


def _read(probs: np.ndarray, ratio: float = 0.05) -> str:
    return CtcDecoder(_CLASSES, ratio)(probs[None])[0][0]


def test_without_the_repair_it_reads_as_pp_ocr_does() -> None:
    reference = CTCLabelDecode(character=list(_DICTIONARY))
    ours = CtcDecoder(_CLASSES, 0.0)
    rng = np.random.default_rng(7)
    for _ in range(100):
        probs = rng.random((4, int(rng.integers(1, 30)), len(_CLASSES))) ** 6
        probs = (probs / probs.sum(axis=-1, keepdims=True)).astype(np.float32)
        for (text, score, *_), (want_text, want_score) in zip(ours(probs), reference(probs), strict=True):
            assert text == want_text
            assert score == pytest.approx(want_score, abs=1e-6) or text == ""


def test_an_open_zero_read_as_c_inside_a_year_is_the_digit_the_model_ranks_next() -> None:
    probs = _steps({"2": 0.9}, {"C": 0.6, "0": 0.2}, {"2": 0.9}, {"7": 0.9})
    assert _read(probs) == "2027"
    assert _read(probs, ratio=0.0) == "2C27"


def test_a_stray_mark_between_digits_becomes_nothing_when_the_model_half_expects_a_blank() -> None:
    probs = _steps({"0": 0.9}, {"'": 0.5, "blank": 0.3}, {"4": 0.9}, {"1": 0.9})
    assert _read(probs) == "041"


def test_a_repair_needs_the_model_to_rank_the_digit_close_behind() -> None:
    probs = _steps({"2": 0.9}, {"C": 0.9, "0": 0.01}, {"2": 0.9}, {"7": 0.9})
    assert _read(probs) == "2C27"


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # a letter beside a letter: a keyword is never made digits ("PROD", "LOT1")
        (({"P": 0.9}, {"R": 0.9}, {"O": 0.6, "0": 0.3}, {"D": 0.9}), "PROD"),
        (({"L": 0.9}, {"O": 0.6, "0": 0.3}, {"T": 0.9}, {"1": 0.9}), "LOT1"),
        # a printer's suffix at a number's edge ("130527B")
        (({"2": 0.9}, {"7": 0.9}, {"B": 0.6, "8": 0.3}), "27B"),
        # a space between a date and a time, and a time's colon, stay as read
        (({"6": 0.9}, {" ": 0.6, "blank": 0.3}, {"0": 0.9}, {":": 0.5, "blank": 0.4}, {"3": 0.9}), "6 0:3"),
    ],
)
def test_what_is_not_inside_a_number_is_left_as_read(
    steps: tuple[dict[str, float], ...], expected: str
) -> None:
    assert _read(_steps(*steps)) == expected


def test_a_character_between_a_separator_and_a_digit_is_inside_a_date() -> None:
    probs = _steps({"5": 0.9}, {"/": 0.9}, {"C": 0.6, "0": 0.2}, {"3": 0.9})
    assert _read(probs) == "5/03"


def _confident(text: str, blank: float = 0.08) -> list[dict[str, float]]:
    """Each character at 0.85 with the blank second at ``blank``: what CTC gives at a peak."""
    return [{char: 0.85, "blank": blank} for char in text]


@pytest.mark.parametrize("text", ["2027年6月30日", "5x250", "10h30", "REF-C12"])
def test_a_blank_behind_a_character_never_deletes_it(text: str) -> None:
    # At a character's own step the blank is usually the runner-up: that is no reason to drop
    # a glyph (a CJK date's 年 and 月, the x of 5x200), nor one that is not a look-alike.
    assert _read(_steps(*_confident(text))) == text


def test_a_look_alike_with_a_blank_runner_up_becomes_the_digit_behind_it() -> None:
    steps = [*_confident("2"), {"C": 0.6, "blank": 0.25, "0": 0.1}, *_confident("27")]
    assert _read(_steps(*steps)) == "2027"


def test_a_separator_after_a_code_letter_is_no_number() -> None:
    steps = [*_confident("REF-"), {"C": 0.6, "0": 0.3}, *_confident("12")]
    assert _read(_steps(*steps)) == "REF-C12"


def test_the_score_is_the_greedy_reads_own() -> None:
    probs = _steps({"2": 0.8}, {"C": 0.4, "0": 0.3}, {"2": 0.8})
    text, score, *_ = CtcDecoder(_CLASSES)(probs[None])[0]
    assert text == "202" and score == pytest.approx((0.8 + 0.4 + 0.8) / 3)


def test_an_empty_read_scores_zero() -> None:
    assert CtcDecoder(_CLASSES)(_steps({"blank": 0.9}, {"blank": 0.9})[None]) == [Read("", 0.0)]


def _alternatives(*steps: dict[str, float]) -> tuple[str, ...]:
    return CtcDecoder(_CLASSES)(_steps(*steps)[None])[0].alternatives


def test_a_digit_with_a_close_second_digit_gives_an_alternative() -> None:
    # Hard set v2 940269: dot-matrix "04 Aug 2029", its 0 read as an 8 (0.63 against 0.35).
    line = [{"8": 0.63, "0": 0.35}, {"4": 0.99}, {" ": 0.9}, {"A": 0.9}, {"U": 0.9}, {"G": 0.9}]
    read = CtcDecoder(_CLASSES)(_steps(*line)[None])[0]
    assert read == Read("84 AUG", pytest.approx(read.score), ("04 AUG",))
    # A second digit below SWAP_RATIO of the first gives none; a sure read has none.
    assert SWAP_RATIO == 0.25 and _alternatives({"8": 0.8, "0": 0.19}, {"4": 0.99}) == ()
    assert _alternatives(*_confident("2027")) == ()


def test_alternatives_are_the_closest_seconds_first_and_few() -> None:
    line = [
        {"1": 0.5, "7": 0.4},
        {"8": 0.6, "0": 0.3},
        {"3": 0.5, "9": 0.45},
        {"5": 0.5, "6": 0.2},
        {"2": 0.9},
    ]
    assert MAX_ALTERNATIVES == 3
    assert _alternatives(*line) == ("18952", "78352", "10352")


def test_no_alternative_for_letters_or_for_a_digit_the_repair_made() -> None:
    # A letter's second digit is the repair's business ("2C27" -> "2027"), not an alternative's;
    # the repaired 0 is not swapped again for the model's third choice.
    assert _alternatives({"2": 0.9}, {"C": 0.6, "0": 0.3, "8": 0.2}, {"2": 0.9}, {"7": 0.9}) == ()
    assert _alternatives({"B": 0.6, "8": 0.4}, {"B": 0.01}) == ()


def test_no_alternative_that_ctc_would_merge_into_its_neighbour() -> None:
    # "102" with the 0's second a 1 on the step after the 1: CTC reads "112" as "12", no swap.
    assert _alternatives({"1": 0.9}, {"0": 0.6, "1": 0.3}, {"2": 0.9}) == ()
    # With a blank step between them, "112" is what the model could mean.
    assert _alternatives({"1": 0.9}, {"blank": 0.9}, {"0": 0.6, "1": 0.3}, {"2": 0.9}) == ("112",)
