"""Prices are not dates: "12.30 €" and "R$ 10.29" have the shape of a month and a year, and
"MRP: (Incl. of all taxes) 140135" (Rs 140, a price whose decimal point OCR lost) of a compact date.

A month-year shape next to a currency sign or code, or after a word for price, is a price. The
signs and codes are ISO 4217 codes and the symbols of the markets whose labels the parser reads;
the words are "price" in those languages.
"""

from __future__ import annotations

import re

from pipeline.dates.normalize import fold

__all__ = ["is_price"]

_SIGNS = "$€£¥₩฿₫₺₽₹₴円元원"
_CODES = "R$|RP|RS|TL|KR|ZL|EUR|USD|GBP|BRL|VND|THB|BAHT|บาท|RUB|РУБ|IDR|TRY|PLN|CHF|JPY|CNY|KRW|MXN|ARS"
_WORDS = "PRICE|PRECO|PRECIO|PREIS|PRIX|PREZZO|PRIJS|FIYAT|CENA|HARGA|GIA|ЦЕНА|ราคา|价格|價格|価格|가격"
# Before a price only: India's "maximum retail price", printed on every pack with "(Incl. of all
# taxes)" after it ("USE BY 120527 MRP Rs 45" is a date, then a price).
_WORDS_BEFORE = "MRP|M.R.P|ALL TAXES"
_TOKENS = "|".join(re.escape(fold(token)) for token in f"{_CODES}|{_WORDS}".split("|"))
_TOKENS_BEFORE = "|".join(re.escape(token) for token in _WORDS_BEFORE.split("|"))
# Just before the shape (a colon, a dot or spaces between; a bracket and a line break after "(Incl.
# of all taxes)") or just after it.
_BEFORE = re.compile(
    rf"(?:[{_SIGNS}]|(?<![^\W\d_])(?:{_TOKENS}|{_TOKENS_BEFORE}))(?:[ :]{{0,2}}|\)?[ :.]{{0,2}}\n?)$"
)
_AFTER = re.compile(rf" ?(?:[{_SIGNS}]|(?:{_TOKENS})(?![^\W\d_]))")
_LOOK = 16


def is_price(text: str, start: int, end: int, *, sign_after: bool = True) -> bool:
    """Whether the shape at ``text[start:end]`` (normalised) is a price: a currency or a word for
    price before it, or (``sign_after``) a currency after it ("12.30 €")."""
    if _BEFORE.search(text, max(0, start - _LOOK), start):
        return True
    return sign_after and _AFTER.match(text, end) is not None
