"""Quantities are not dates: "10.30g", "1.25L" and "10.25 %" have the shape of a month and a year.

A month-year shape written with a decimal point, with a unit of mass, volume or energy glued to it
or a percent sign after it, is an amount: a nutrition table's row, a bottle's volume. Shapes with
a slash or a hyphen are dates whatever follows ("EXP 05/27L", a lot letter). The units are SI's
and the customary ones printed on packaging (oz, lb), in Latin capitals once normalised.
"""

from __future__ import annotations

import re

__all__ = ["is_quantity"]

# Glued to the number, or a space between for the units no lot, line or plant code reads ("125g
# (4.41 oz)", realworld3 010; "10.30 kcal"): "1.25 L", "05.27 G" and "08.27 ML" stay date shapes (a
# line code), which only a keyword or another date would make a date. Not followed by a letter, a
# digit or a colon: "10.30GR", "09.25L:AB12" (a lot's tag).
_UNIT = re.compile(r"(?:KG|MG|MCG|G|ML|CL|DL|L| ?(?:OZ|LBS?|KCAL|KJ))(?![^\W_]|:)| ?%")


# A nutrition table's row names its nutrient first, from the line's start to the amount ("Fat 12.28
# g", "Total Sugars 10.29 g"): there
# a spaced unit of one letter is one too. Words of the EU's, the US's and Codex's nutrition labels.
_NUTRIENT_ROW = re.compile(
    r"[^\n\d]{0,24}(?:FAT|SATURATES|PROTEIN|CARBOHYDRATE|SUGARS?|SALT|SODIUM|FIBRE|FIBER|ENERGY"
    r"|CALORIES|CHOLESTEROL|TRANS|POTASSIUM|CALCIUM|IRON)(?![A-Z])[^\n\d]{0,12}\Z"
)
_SPACED_UNIT = re.compile(r" (?:G|MG|L|ML)(?![^\W_]|:)")


def is_quantity(text: str, separator: str, end: int, start: int = 0) -> bool:
    """Whether the month-year shape ``text[start:end]`` (normalised), its fields parted by
    ``separator``, is an amount: a decimal point, then a unit; or a spaced gram or litre in a
    nutrition table's row."""
    if separator not in ".,":
        return False
    if _UNIT.match(text, end) is not None:
        return True
    if _SPACED_UNIT.match(text, end) is None:
        return False
    return _NUTRIENT_ROW.match(text, text.rfind("\n", 0, start) + 1, start) is not None
