"""Prices are not dates: "12.30 €" and "R$ 10.29" have the shape of a month and a year, and
"MRP Rs. 140135" (a price whose decimal point OCR lost) of a compact date.

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
# MRP: India's "maximum retail price".
_WORDS = "PRICE|PRECO|PRECIO|PREIS|PRIX|PREZZO|PRIJS|FIYAT|CENA|HARGA|GIA|ЦЕНА|ราคา|价格|價格|価格|가격|MRP"
_TOKENS = "|".join(re.escape(fold(token)) for token in f"{_CODES}|{_WORDS}".split("|"))
# Just before the shape (a colon or spaces between) or just after it.
_BEFORE = re.compile(rf"(?:[{_SIGNS}]|(?<![^\W\d_])(?:{_TOKENS}))[ :]{{0,2}}$")
_AFTER = re.compile(rf" ?(?:[{_SIGNS}]|(?:{_TOKENS})(?![^\W\d_]))")
# A compact date's digits after a price on its line: "MRP Rs. 140135" (India's maximum retail price,
# its decimal point lost). Never across a line break: an Indian pack's date block is printed right
# under its MRP line.
_BEFORE_COMPACT = re.compile(rf"(?:[{_SIGNS}]|(?<![^\W\d_])(?:{_TOKENS}))[ :.]{{0,3}}\Z")
_LOOK = 12


def is_price(text: str, start: int, end: int, *, compact: bool = False) -> bool:
    """Whether the shape at ``text[start:end]`` (normalised) is a price: a currency or a word for
    price just before it, or a currency just after it ("12.30 €"); for a ``compact`` date's digits,
    only before it, on its line."""
    look = max(0, start - _LOOK)
    if compact:
        return _BEFORE_COMPACT.search(text, look, start) is not None
    return bool(_BEFORE.search(text, look, start) or _AFTER.match(text, end))
