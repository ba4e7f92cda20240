"""Keywords that say what a date is: expiry, manufacture, or a lot code (never a date).

Keywords are matched as words: never inside another word ("VAL" in "INTERVAL"), but glued to
digits or punctuation as OCR prints them ("25VAL:18/06/2026LOTE:2506").
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

__all__ = ["Keyword", "Role", "find_keywords"]


class Role(enum.Enum):
    """What a keyword says about the date it labels."""

    EXPIRY = "expiry"
    MANUFACTURE = "manufacture"
    LOT = "lot"


_EXPIRY = (
    r"USE[ \-]?BY|BEST[ \-]?BEFORE(?: END)?|BBE|BB|EXPIRY|EXPIRES|EXPIRATION|EXP|VALIDADE|VALIDO ATE|VAL"
    r"|VENCIMENTO|VENCE|VENC|VTO|CONSUMIR (?:PREFERENCIALMENTE |PREFERENTEMENTE )?(?:ANTES DEL?|ATE)"
    r"|CADUCIDAD|CAD|MHD"
)
_MANUFACTURE = r"FABRICACAO|FABRICADO|FAB|MFG|MFD|PRODUCAO|PRODUCED|PROD|ENVASADO|ENV|EMBALADO|EMB|ELAB"
_LETTER_ROLES = {"V": Role.EXPIRY, "F": Role.MANUFACTURE, "P": Role.MANUFACTURE, "L": Role.LOT}
_KEYWORDS = re.compile(
    rf"(?<![A-Z])(?:(?P<expiry>{_EXPIRY})|(?P<manufacture>{_MANUFACTURE})|(?P<lot>LOTE|LOT)"
    r"|(?P<letter>[VFPL])(?P<mark>[:.])?)(?![A-Z])"
)


class Keyword(NamedTuple):
    """A keyword's span and role. ``bare`` is a lone letter without a colon or dot ("V 08/27")."""

    start: int
    end: int
    role: Role
    bare: bool


def find_keywords(text: str) -> list[Keyword]:
    """Every keyword in ``text`` (normalised), in text order."""
    found = []
    for match in _KEYWORDS.finditer(text):
        letter = match.group("letter")
        if letter:
            role = _LETTER_ROLES[letter]
            found.append(Keyword(match.start(), match.end(), role, bare=match.group("mark") is None))
            continue
        kind = match.lastgroup or ""
        found.append(Keyword(match.start(), match.end(), Role(kind), bare=False))
    return found
