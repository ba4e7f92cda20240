# ruff: noqa: RUF001  (words and digits of other scripts are meant, not look-alikes)
"""The date parser on labels of the world (issue 12): every family of the issue, with OCR noise.

Each family is a table of label texts as OCR returns them (lines joined by newlines: keyword,
date, lot, time), written for these tests, and the expiry date a person reads off the label
(``YYYY-MM``: a month-only date, precision MONTH, the month's last day). Each case also runs as
its OCR-noise variants (``_variants``): a 0 inside the digits read as the letter O, a 1 read as
I, the lines run together on one line, and for East Asian labels fullwidth digits.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pipeline.dates import parse_dates
from pipeline.types import DateKind, DateOrder, DatePrecision

REF = dt.date(2026, 11, 30)

# Compact numeric dates beside a keyword or a one-letter tag: DDMMYY, DDMMYYYY, YYYYMMDD.
COMPACT = [
    ("EXP 07082027\nL2507A 14:22", "2027-08-07"),
    ("BBF:211126\nLOT 3321B", "2026-11-21"),
    ("MFG130526EXP130527", "2027-05-13"),
    ("FV: 230427\nL: 0412", "2027-04-23"),
    ("FP: 230426\nFV: 230427", "2027-04-23"),
    ("MFG 20260512\nEXP 20280511\nLOT A17", "2028-05-11"),
    ("EXP20271231 L6C2", "2027-12-31"),
    ("PRO 150326\nEXP 150328\n08:41 K2", "2028-03-15"),
    ("MFD:02082025\nBBF:01082027", "2027-08-01"),
    ("BBE 090327 A\n0412 L3", "2027-03-09"),
    ("EXP.070827 14:02", "2027-08-07"),
    ("USE BY 05012027", "2027-01-05"),
    ("MFG151125 C1\nBBF151127", "2027-11-15"),
    ("V 310527\nF 010526", "2027-05-31"),
    ("LOT010725\nEXP010727 1", "2027-07-01"),
    ("HSD 120828\nNSX 120826", "2028-08-12"),
    ("SKT 20270630\nURT 20250630", "2027-06-30"),
    ("THT 24102027\nL24297", "2027-10-24"),
    ("MHD 31122027 L123", "2027-12-31"),
    ("VAL 25122027 FAB 25122025", "2027-12-25"),
    ("VTO 010628\nLOTE 0412B 11:45", "2028-06-01"),
    ("DDM 18092027\nLOT 2518", "2027-09-18"),
    ("SCAD 300427 L.25120", "2027-04-30"),
    ("E 11102027\nP 11042026", "2027-10-11"),
    ("EXP:281127\nMFG:281126\n22:10 3B", "2027-11-28"),
    ("BB 050727  2318", "2027-07-05"),
]

# Month names in any position, any separator, many languages.
MONTH_NAMES = [
    ("EXP:AUG-19-2027\nLOT 4471", "2027-08-19"),
    ("BEST BY OCT 03 27\n14:45 L2", "2027-10-03"),
    ("BB JUL/22/27", "2027-07-22"),
    ("Cad. 14 MAR 2028\nLote 7718", "2028-03-14"),
    ("EXP 17 OKT 2027", "2027-10-17"),
    ("VAL 14 ABR 2027\nL:2504", "2027-04-14"),
    ("05 DES 2027\nKODE 12A", "2027-12-05"),
    ("CONSUMIR ANTES DEL 12 ENE 2028", "2028-01-12"),
    ("VAL: 03 FEV 2027", "2027-02-03"),
    ("CAD 21 AGO 2027 L2", "2027-08-21"),
    ("SCAD 09 SET 2027", "2027-09-09"),
    ("VAL 30 OUT 2027", "2027-10-30"),
    ("VTO 15 DIC 2027", "2027-12-15"),
    ("MHD 08 MAI 2027", "2027-05-08"),
    ("MHD 31 DEZ 2027", "2027-12-31"),
    ("DDM 14 FEVR 2027", "2027-02-14"),
    ("THT 22 MEI 2027", "2027-05-22"),
    ("Tenminste houdbaar tot 12 MRT 2028", "2028-03-12"),
    ("SKT 12 AGU 2027", "2027-08-12"),
    ("Son kullanma tarihi 04 EKIM 2027", "2027-10-04"),
    ("Baik digunakan sebelum 17 AGUSTUS 2027", "2027-08-17"),
    ("Najlepiej spożyć przed 14 MARCA 2028", "2028-03-14"),
    ("Годен до 12 АВГУСТА 2027", "2027-08-12"),
    ("Da consumarsi entro il 30 GIU 2027", "2027-06-30"),
    ("À consommer jusqu'au 02 JUIL. 2027", "2027-07-02"),
    ("best before 14 janvier 2028", "2028-01-14"),
    ("Mindestens haltbar bis 01. März 2028", "2028-03-01"),
    ("USE BY: NOV 14, 2027", "2027-11-14"),
    # Malay (OGOS, JULAI, DISEMBER) and Indonesian (AGS) month names.
    ("TARIKH LUPUT 05 DISEMBER 2027", "2027-12-05"),
    ("GUNA SEBELUM 12 JULAI 2028", "2028-07-12"),
    ("EXP 21 OGOS 2027", "2027-08-21"),
    ("Baik digunakan sebelum 12 AGS 2027", "2027-08-12"),
]

# Year first, with spaces, dots, slashes, or the CJK field marks.
YEAR_FIRST = [
    ("BEST BEFORE 2027 09 18\nL 4411", "2027-09-18"),
    ("2028. 02. 11", "2028-02-11"),
    ("2027/06/30\n13:40", "2027-06-30"),
    ("EXP 2027.01.20 L02", "2027-01-20"),
    ("EXP 2027-08-05\nMFG 2026-08-05", "2027-08-05"),
    ("USE BY 2027 12 01", "2027-12-01"),
    ("2027年6月30日", "2027-06-30"),
    ("2027年 06月 30日\nロット A12", "2027-06-30"),
    ("유통기한 2027년 10월 01일 까지", "2027-10-01"),
    ("賞味期限 2028.03.14", "2028-03-14"),
    ("消費期限 2027.01.20 10:00", "2027-01-20"),
    ("保质期至 2027-02-02", "2027-02-02"),
    ("到期日 2027/06/30", "2027-06-30"),
    ("BBE 2027.11.30 LOT 3", "2027-11-30"),
    ("EXP. 2028/01/15", "2028-01-15"),
    ("VAL 2027-04-09", "2027-04-09"),
    ("2027. 4. 9 까지", "2027-04-09"),
    ("MHD 2027.09.01", "2027-09-01"),
    ("HSD 2027/12/31 NSX 2026/12/31", "2027-12-31"),
    ("PKD 2026.05.01 EXP 2027.05.01", "2027-05-01"),
    ("S.K.T 2027.07.07", "2027-07-07"),
    ("THT 2027-10-10 L2", "2027-10-10"),
    ("SCADENZA 2028/02/29", "2028-02-29"),
    ("EXP 2027 03 15 09:12", "2027-03-15"),
    ("品質保持期限 2027.08.31", "2027-08-31"),
    ("製造日 2026.08.31 賞味期限 2027.08.31", "2027-08-31"),
]

# Korean, Japanese and Chinese labels: year-month-day, two-digit years included.
EAST_ASIA = [
    ("유통기한 28.01.09 까지", "2028-01-09"),
    ("제조일자 26.10.01\n유통기한 27.10.01", "2027-10-01"),
    ("26.03.02 부터 27.03.01 까지", "2027-03-01"),
    ("유통기한: 27.05.04까지\n제조번호 B12", "2027-05-04"),
    ("소비기한 27.02.03\n제조일 26.08.03", "2027-02-03"),
    ("품질유지기한 28.12.31", "2028-12-31"),
    ("제조 26.11.20 / 유통기한 27.05.20", "2027-05-20"),
    ("27.11.02 까지", "2027-11-02"),
    ("유통기한 27. 06. 15", "2027-06-15"),
    ("賞味期限 28.03.14", "2028-03-14"),
    ("賞味期限 27.10.01\nロット 7A21", "2027-10-01"),
    ("消費期限 27.12.05 14時", "2027-12-05"),
    ("製造年月日 26.12.05\n賞味期限 27.06.05", "2027-06-05"),
    ("賞味期限 27.7.1", "2027-07-01"),
    ("賞味期限 27.10.1", "2027-10-01"),
    ("生产日期：2026.02.03 保质期至：2027.02.02", "2027-02-02"),
    ("生产日期 26/04/05\n保质期至 27/04/04", "2027-04-04"),
    ("有效期至 27.09.30", "2027-09-30"),
    ("到期日 27/06/30", "2027-06-30"),
    ("生产日期 20260203\n保质期至 20270202", "2027-02-02"),
    ("限用日期 28.01.01", "2028-01-01"),
    ("유통기한 28.01.09 까지 / 로트 112", "2028-01-09"),
    ("제조일자 25.03.02 유통기한 26.03.01", "2026-03-01"),
    ("賞味期限 26.01.15", "2026-01-15"),
    ("생산일자 26.09.09 소비기한 27.09.08", "2027-09-08"),
    ("使用期限 27.04.30", "2027-04-30"),
    ("유통기한 280109", "2028-01-09"),
]

# Keywords of many languages, and digits of other scripts.
KEYWORDS = [
    ("تاريخ الانتهاء ٢٠٢٧/٠٩/١٥", "2027-09-15"),
    ("إنتاج ١٥/٠٩/٢٠٢٦\nانتهاء ١٥/٠٩/٢٠٢٧", "2027-09-15"),
    ("تاريخ الإنتاج: 01/03/2026\nتاريخ الانتهاء: 01/03/2027", "2027-03-01"),
    ("ผลิต 12/08/26\nหมดอายุ 12/08/27", "2027-08-12"),
    ("วันที่ผลิต 05.01.26 วันหมดอายุ 05.01.27", "2027-01-05"),
    ("ควรบริโภคก่อน 09.10.27\nL 2233", "2027-10-09"),
    ("HSD: 12/08/2027\nNSX: 12/08/2026", "2027-08-12"),
    ("NSX 12.08.2026 HSD 12.08.2027", "2027-08-12"),
    ("Ngày sản xuất: 02/03/2026\nHạn sử dụng: 02/03/2027", "2027-03-02"),
    ("Изготовлено 12.08.2026\nГоден до 12.08.2027", "2027-08-12"),
    ("Дата изготовления: 01.02.2026 Годен до: 01.08.2027", "2027-08-01"),
    ("S.K.T: 12.08.2027\nÜ.T: 12.08.2026", "2027-08-12"),
    ("ÜRT 12.08.2026 SKT 12.08.2027 PARTİ 12", "2027-08-12"),
    ("THT 12-08-2027\nL 4411 08:12", "2027-08-12"),
    ("TGT 14-08-2027 L2", "2027-08-14"),
    ("MHD 12.08.2027 L:2231", "2027-08-12"),
    ("mind. haltbar bis 12.08.2027", "2027-08-12"),
    ("DDM 12/2027\nLOT 1221", "2027-12"),
    ("DLC 12/08/2027 09:14", "2027-08-12"),
    ("À consommer jusqu'au 12/08/2027", "2027-08-12"),
    ("à consommer de préférence avant fin 12/2027", "2027-12"),
    ("SCAD 05/27 L.231", "2027-05"),
    ("da consumarsi preferibilmente entro 12/08/2027", "2027-08-12"),
    ("FP 12/08/2026 FV 12/08/2027", "2027-08-12"),
    ("CONSUMIR PREFERENTEMENTE ANTES DEL 12/08/2027", "2027-08-12"),
    ("Należy spożyć do 12.08.2027", "2027-08-12"),
    ("Najlepiej spożyć przed 12.08.2027", "2027-08-12"),
    ("Baik digunakan sebelum 12 08 2027", "2027-08-12"),
    ("PRO.DATE 12.08.2026\nEXP.DATE 12.08.2027", "2027-08-12"),
    # "Sell by" is the US market's phrase: its numeric dates are month first (test_dates_us.py).
    ("SELL BY 12/08/2027", "2027-12-08"),
    ("PKD 12/08/2026 BBE 12/02/2027", "2027-02-12"),
    ("MFD 01/06/2026 USE BEFORE 01/06/2027", "2027-06-01"),
    ("EXPIRY DATE: 30/09/2027", "2027-09-30"),
]

# Month and year with a space or a year-first separator; keywords glued to the date.
MONTH_YEAR = [
    ("BB 12 2026", "2026-12"),
    ("EXP 12 2026\nL 2231 09:15", "2026-12"),
    ("VAL 08 2027", "2027-08"),
    ("EXP 2026/08", "2026-08"),
    ("EXP 2026-08\nLOT 77", "2026-08"),
    ("VALABR/27", "2027-04"),
    ("EXPFEV27", "2027-02"),
    ("VALIDADEABR/27", "2027-04"),
    ("FABSET/25VALSET/27", "2027-09"),
    ("FABMAR/26 VALMAR/28", "2028-03"),
    ("VENCOUT/27", "2027-10"),
    ("EXPDEC2027", "2027-12"),
    ("VAL.JAN/28 L:1123", "2028-01"),
    ("BEST BEFORE END 06 2027", "2027-06"),
    ("MHD 2027/09", "2027-09"),
    ("THT 2028-01", "2028-01"),
    ("EXP 2027.05", "2027-05"),
    ("BBE 03 2028 L4", "2028-03"),
    ("CAD 11 2027", "2027-11"),
    ("VTO 2027/10", "2027-10"),
    ("VALIDADE 06 2027\nLOTE 44", "2027-06"),
    ("EXP JUN 2027", "2027-06"),
    ("2027年6月", "2027-06"),
    ("VALMAI/27", "2027-05"),
    ("EXPJAN28 L2", "2028-01"),
]

# A volume or a unit glued to digits is not a lot keyword.
UNITS = [
    ("LEITE 1L\n12/08/2026", "2026-08-12"),
    ("V4L 12/08/2026", "2026-08-12"),
    ("1L 12/08/2026", "2026-08-12"),
    ("SUCO 1.5L\nVAL 12/08/2026", "2026-08-12"),
    ("2L 05/03/2027", "2027-03-05"),
    ("OLEO 900ML 900 ml\n15/09/2027", "2027-09-15"),
    ("5L 01/10/2027 L2345", "2027-10-01"),
    ("AGUA 1,5L\n20/12/2027", "2027-12-20"),
    ("500 ML 10/11/2027", "2027-11-10"),
    ("3L\n22/06/2027\n14:05", "2027-06-22"),
    ("1L 12.08.2027", "2027-08-12"),
    ("LEITE INTEGRAL 1L 01/02/2027", "2027-02-01"),
    ("0,5L 07/07/2027", "2027-07-07"),
    ("12X1L 03/03/2027", "2027-03-03"),
    ("1L 12/2027", "2027-12"),
    ("10L 28/02/2028", "2028-02-28"),
    ("4L\n30/04/2027 L:0512", "2027-04-30"),
    ("LEITE 1L 15.05.27", "2027-05-15"),
    ("1L\nVAL 15/05/27", "2027-05-15"),
    ("V4L\n12 08 2027", "2027-08-12"),
    ("200ML 160827", "2027-08-16"),
    ("1L 2027-08-12", "2027-08-12"),
    ("2L 09 JUN 2027", "2027-06-09"),
    ("PET 2L 14/10/2027 08:55", "2027-10-14"),
    ("1L L2207 12/08/2027", "2027-08-12"),
]

# Month-only dates end on the month's last day with precision MONTH.
MONTH_ONLY = [
    ("VTO 05/27", "2027-05"),
    ("DDM 12/2027", "2027-12"),
    ("SCAD 05/27", "2027-05"),
    ("VALIDADE 05/2028", "2028-05"),
    ("BB 02/28", "2028-02"),
    ("BEST BEFORE END 11/2027\nL 3321", "2027-11"),
    ("EXP 03/2028 LOT 2", "2028-03"),
    ("MHD 09/2027", "2027-09"),
    ("THT 10-2027", "2027-10"),
    ("SKT 06.2027", "2027-06"),
    ("HSD 04/2028", "2028-04"),
    ("CAD 01/28", "2028-01"),
    ("VAL 07/27\nFAB 07/25", "2027-07"),
    ("F:03/26 V:03/28", "2028-03"),
    ("DLUO 12/2027", "2027-12"),
    ("de préférence avant fin 06/2027", "2027-06"),
    ("Mindestens haltbar bis Ende 08/2027", "2027-08"),
    ("Ten minste houdbaar tot einde 02/2028", "2028-02"),
    ("Najlepiej spożyć przed końcem 05/2027", "2027-05"),
    ("Годен до 11.2027", "2027-11"),
    ("EXP: 08/27\n23:11", "2027-08"),
    ("VENC 04/2027", "2027-04"),
    ("USE BY END 12/27", "2027-12"),
    ("Consumir preferentemente antes del fin de 10/2027", "2027-10"),
    ("VAL 032028", "2028-03"),
]

# Several dates: the keyword decides; without keywords the later one; past dates stay; lots,
# times and prices are never dates.
CHOOSING = [
    ("P 11 04 2026\nE 11 10 2027", "2027-10-11"),
    ("F:03/26 V:03/28", "2028-03"),
    ("L:231A V:09/09/27", "2027-09-09"),
    ("14/05/25\n15/11/25", "2025-11-15"),
    ("10062025\n10062026\n53A3 0200", "2026-06-10"),
    ("MFG 01/02/2021\nEXP 01/02/2023", "2023-02-01"),
    ("EXP 12/08/2021 L23", "2021-08-12"),
    ("BB 19/12/2021\nL2145 13:45", "2021-12-19"),
    ("BBE 16/08/28 13:45", "2028-08-16"),
    ("13:45 12/08/2027", "2027-08-12"),
    ("PRICE 12.30\n12/08/2027", "2027-08-12"),
    ("12/08/2027\n$12.30", "2027-08-12"),
    ("€ 10.29\n10/05/2027", "2027-05-10"),
    ("12.29€\n10/05/2027", "2027-05-10"),
    ("10/05/2027\n12.30 TL", "2027-05-10"),
    ("R$ 10,99 VAL 12/08/2027", "2027-08-12"),
    ("LOTE 120826\n12/02/2027", "2027-02-12"),
    ("LOT 250616 EXP 01/12/2026", "2026-12-01"),
    ("EXP 09/2026 MFG 09/2024", "2026-09"),
    ("E 01 04 2026\nP 05 06 2025", "2026-04-01"),
    ("PROD : 01-07-2025\nBBF : 01-07-2027\n1155CKR020701A3TH", "2027-07-01"),
    ("MFG 12/08/2026\nEXP 12/08/2021", "2021-08-12"),
    ("ผลิต / หมดอายุ : 220925-01\n220327", "2027-03-22"),
    ("Prod. Date/ Exp. Date\n28032025\n28032026", "2026-03-28"),
    ("MFG EXP\n010125 010127", "2027-01-01"),
    ("EXP MFG\n010127 010125", "2027-01-01"),
    ("12 OCT 2027\n12 OCT 2026", "2027-10-12"),
]

# Legends of the order printed beside the date: hints, never dates.
LEGENDS = [
    ("BEST BEFORE (DD/MM/YY) 03/04/27", "2027-04-03"),
    ("BEST BEFORE (MM/DD/YY) 03/04/27", "2027-03-04"),
    ("(y年/m月/d日) 27/04/03", "2027-04-03"),
    ("EXP (YYYY/MM/DD) 2027/04/03", "2027-04-03"),
    ("EXP DD/MM/YYYY\n05/06/2027", "2027-06-05"),
    ("EXP MM/DD/YYYY\n05/06/2027", "2027-05-06"),
    ("ควรบริโภคก่อน (ว/ด/ป) 05/06/27", "2027-06-05"),
    ("ควรบริโภคก่อน (วัน เดือน ปี) 050627", "2027-06-05"),
    ("Best Before Date (D/M/Y): 02/05/27", "2027-05-02"),
    ("USE BY MM.DD.YY 02.05.27", "2027-02-05"),
    ("BEST BEFORE: DDMMYY\n140826 1D", "2026-08-14"),
    ("EXP (MMDDYY) 020527", "2027-02-05"),
    ("EXP (YYMMDD) 270205", "2027-02-05"),
    ("MFG (YY.MM.DD) 26.02.05 EXP 27.02.05", "2027-02-05"),
    ("LOT 12 EXP DD-MM-YY 07-08-27", "2027-08-07"),
    ("EXP MM-DD-YY 07-08-27", "2027-07-08"),
    ("BBE (DD.MM.YYYY) 01.02.2027", "2027-02-01"),
    ("BB MM/YYYY 02/2027", "2027-02"),
    ("EXP. (D.M.Y) 3.4.27", "2027-04-03"),
    ("EXP. (M.D.Y) 3.4.27", "2027-03-04"),
    ("วันหมดอายุ (วัน/เดือน/ปี) : 01/02/2027", "2027-02-01"),
    ("賞味期限 (年/月/日) 27/02/01", "2027-02-01"),
    ("Best Before DD MM YYYY\n19 04 2027\n07:16:14 1B01", "2027-04-19"),
    ("USE BY (MM/DD/YYYY) 11/12/2027", "2027-11-12"),
    ("USE BY (DD/MM/YYYY) 11/12/2027", "2027-12-11"),
]

FAMILIES = {
    "compact": COMPACT,
    "month_names": MONTH_NAMES,
    "year_first": YEAR_FIRST,
    "east_asia": EAST_ASIA,
    "keywords": KEYWORDS,
    "month_year": MONTH_YEAR,
    "units": UNITS,
    "month_only": MONTH_ONLY,
    "choosing": CHOOSING,
    "legends": LEGENDS,
}

_INNER_ZERO = re.compile(r"(?<=\d)0(?=\d)")
_INNER_ONE = re.compile(r"(?<=\d)1(?=\d)")


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# Families whose labels OCR also returns in fullwidth digits (Japanese and Chinese text).
_FULLWIDTH_FAMILIES = ("year_first", "east_asia")


def _variants(text: str, family: str) -> list[tuple[str, str]]:
    """The OCR-noise variants of a label that differ from it: O for a 0 and I for a 1 between
    digits, the lines run together, and for East Asian labels fullwidth digits."""
    variants = [
        ("O_for_0", _INNER_ZERO.sub("O", text, count=1)),
        ("I_for_1", _INNER_ONE.sub("I", text, count=1)),
        ("one_line", text.replace("\n", " ")),
    ]
    if family in _FULLWIDTH_FAMILIES:
        variants.append(("fullwidth", text.translate(_FULLWIDTH)))
    return [(name, variant) for name, variant in variants if variant != text]


def _params() -> list[object]:
    params = []
    for family, cases in FAMILIES.items():
        for index, (text, expected) in enumerate(cases):
            params.append(pytest.param(text, expected, id=f"{family}-{index}"))
            for name, variant in _variants(text, family):
                params.append(pytest.param(variant, expected, id=f"{family}-{index}-{name}"))
    return params


def _check(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None, text
    if len(expected) == 7:
        assert (best.date.isoformat()[:7], best.precision) == (expected, DatePrecision.MONTH), text
        assert best.date.day > 27  # the month's last day
    else:
        assert (best.date.isoformat(), best.precision) == (expected, DatePrecision.DAY), text


@pytest.mark.parametrize(("text", "expected"), _params())
def test_world_labels(text: str, expected: str) -> None:
    _check(text, expected)


def test_every_family_has_25_cases() -> None:
    assert {family: len(cases) >= 25 for family, cases in FAMILIES.items()} == dict.fromkeys(FAMILIES, True)


def test_every_date_is_returned_with_its_kind() -> None:
    result = parse_dates("제조일자 26.10.01\n유통기한 27.10.01\n로트 12", REF)
    kinds = [(c.date.isoformat(), c.kind) for c in result.candidates]
    assert kinds == [("2026-10-01", DateKind.MANUFACTURE), ("2027-10-01", DateKind.EXPIRY)]


def test_malay_keywords_name_their_dates() -> None:
    result = parse_dates("TARIKH DIBUAT: 01/03/2026\nTARIKH LUPUT: 01/03/2028\nGUNA SEBELUM 01/03/2028", REF)
    kinds = [(c.date.isoformat(), c.kind) for c in result.candidates]
    assert kinds == [
        ("2026-03-01", DateKind.MANUFACTURE),
        ("2028-03-01", DateKind.EXPIRY),
        ("2028-03-01", DateKind.EXPIRY),
    ]


def test_a_range_ends_at_the_expiry() -> None:
    result = parse_dates("26.03.02 부터 27.03.01 까지", REF)
    kinds = [(c.date.isoformat(), c.kind) for c in result.candidates]
    assert kinds == [("2026-03-02", DateKind.MANUFACTURE), ("2027-03-01", DateKind.EXPIRY)]


@pytest.mark.parametrize(
    ("text", "made", "expires"),
    [
        ("ผลิต\nหมดอายุ : 220925-01\n220327", "2025-09-22", "2027-03-22"),
        (
            "Prod. Date/ Exp. Date\nวันที่ผลิต / วันหมดอายุ (วัน/เดือน/ปี) : 28032025\n28032026",
            "2025-03-28",
            "2026-03-28",
        ),
    ],
)
def test_a_header_whose_last_keyword_shares_the_first_dates_line_is_a_header(
    text: str, made: str, expires: str
) -> None:
    # The same shape as "BEST BEFORE" over "FAB: 25122028" over "16082029", told apart by time:
    # these columns date the manufacture before the expiry.
    kinds = [(c.date.isoformat(), c.kind) for c in parse_dates(text, REF).candidates]
    assert kinds == [(made, DateKind.MANUFACTURE), (expires, DateKind.EXPIRY)]


def test_a_header_labels_its_columns() -> None:
    result = parse_dates(
        "ผลิต MFG Date (DD/MM/YYYY)\nควรบริโภคก่อน Best Before (DD/MM/YYYY)\n17092025\n15122025", REF
    )
    kinds = [(c.date.isoformat(), c.kind) for c in result.candidates]
    assert kinds == [("2025-09-17", DateKind.MANUFACTURE), ("2025-12-15", DateKind.EXPIRY)]


@pytest.mark.parametrize(
    "text",
    [
        "BEST BEFORE\nFAB: 25122028 03:5\n16082029",
        "16082029\nBEST BEFORE\nFAB: 25122028 03:5",
        "BEST BEFORE\nLOT:15276\nMFG 14122027\n24092029",
        "(D/M/Y)\nEXP\nL2723 H\nNSX 25122023\n07052026",
    ],
)
def test_a_keyword_on_its_own_line_is_no_header_for_a_date_labelled_on_its_line(text: str) -> None:
    # The keyword over the code does not turn the production date that its own FAB/MFG/NSX labels
    # into the expiry (nor make the two dates a table's columns): the bare later date is the expiry.
    result = parse_dates(text, REF)
    kinds = sorted((c.date.isoformat(), c.kind) for c in result.candidates)
    assert kinds[0][1] is DateKind.MANUFACTURE
    assert result.best is not None and result.best.date.isoformat() == kinds[-1][0]


@pytest.mark.parametrize(
    "text",
    [
        "EXP 12/08/2021",
        "BB 19/12/2019",
        "VAL 01/2020",
        "유통기한 21.01.09 까지",
        "MFG 01/01/2020 EXP 01/01/2021",
    ],
)
def test_a_printed_year_is_never_moved(text: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and not best.year_inferred and best.date < REF
    assert best.date.year in (2019, 2020, 2021)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A US carton's month and day after "Sell by", the year left out (not October 2012,
        # December 2024): the one nearest the day it is read, on the shelf.
        ("SELL BY OCT 12", "2026-10-12"),
        ("SELL BY DEC 24", "2026-12-24"),
        ("SELL BY: NOV 21", "2026-11-21"),
        ("SELL-BY JAN 05", "2027-01-05"),
        ("SELL BY DATE DEC 12", "2026-12-12"),
        ("SELL BY OCT 12 2027", "2027-10-12"),
        # Elsewhere two digits after a month are its year: a medicine's "EXP OCT 20" expired in
        # 2020; a slash and a glued month print a year too.
        ("EXP OCT 20", "2020-10-31"),
        ("EXP OCT 27", "2027-10-31"),
        ("BB OCT 24", "2024-10-31"),
        ("SELL BY MAR/12", "2012-03-31"),
        ("EXP MAR12", "2012-03-31"),
    ],
)
def test_a_month_name_and_two_digits_after_sell_by_are_a_day(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # India: the production and expiry dates as a pair under a pair of keywords, the second
        # keyword lost or on another line (realworld3 009, a talc tin).
        ("MFD & USE BY:\n30/08/24 & 12/01/25", "2025-01-12"),
        # ... the & read as an 8 glued to the second date (realworld3 002 in a 1024-pixel photo)
        ("MFD & USE BY:\n19/09/24 801/02/25", "2025-02-01"),
        ("MFD & USE BY 19/09/2024 801/02/2025", "2025-02-01"),
        ("MFG. Date &\n10/23 & 09/26\nUse before", "2026-09-30"),
        # ... and the maximum retail price, whose decimal point OCR lost, is no compact date.
        ("MRP:\n(Incl. of all taxes)\n140135\nMFG. Date &\n10/23 & 09/26\nUse before", "2026-09-30"),
        ("USE BY 120527 MRP Rs 45", "2027-05-12"),
    ],
)
def test_indian_date_pairs_and_prices(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected and best.kind is DateKind.EXPIRY


@pytest.mark.parametrize(
    ("text", "made"),
    [
        # The legends of the Legal Metrology rules ("date of manufacture or packing"): the date they
        # name is the production date, never the answer (realworld7 002 read turned a quarter).
        ("Date of Packaging : SEP2024\nMRP 26.00", "2024-09-30"),
        ("DATE OF PACKING: 12/05/26\nBATCH 1606B36", "2026-05-12"),
        ("Date of Manufacture 05/2026", "2026-05-31"),
        ("Date of Manufacturing: 01.06.2026", "2026-06-01"),
    ],
)
def test_indian_production_legends_name_the_production_date(text: str, made: str) -> None:
    found = parse_dates(text, REF)
    assert found.best is None
    assert [(date.date.isoformat(), date.kind) for date in found.candidates] == [(made, DateKind.MANUFACTURE)]
    with_expiry = parse_dates(text + "\nUse By : MAY2027", REF)
    assert with_expiry.best is not None and with_expiry.best.date.isoformat() == "2027-05-31"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A legend gives its symbols the dates' roles (realworld3 011, 012): the date "@" marks is
        # the expiry date, whatever later number the label prints.
        ("# 02/24 B001 @ 01/27\n#MFD, B.No. & @USE BEFORE: SEE CODING AREA\nTel 12/05/2031", "2027-01-31"),
        ("* Rs 270.00 # 09/23\nBR21353 @ 08/26\nRs 0.90/ml\n#Mfd., B.No., @Use before", "2026-08-31"),
        # ... over a header of the legend's words, which reaches the wrong column.
        ("#MFD @USE BEFORE\n# 05/2026 @ 04/2028\n1800 12/2031", "2028-04-30"),
    ],
)
def test_a_symbol_legend_gives_the_dates_their_roles(text: str, expected: str) -> None:
    result = parse_dates(text, REF)
    assert result.best is not None and result.best.date.isoformat() == expected
    assert result.best.kind is DateKind.EXPIRY
    assert result.candidates[0].kind is DateKind.MANUFACTURE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A review's texts: a date block right under the MRP line is no price.
        ("Mfg. Date: 10/2026\nM.R.P. ₹ 99.00\n(Incl. of all taxes)\n09/2027\nExpiry Date:", "2027-09-30"),
        ("MRP Rs. 45.00\n(Incl. of all taxes)\n08/27", "2027-08-31"),
        ("MRP ₹ 50 Incl. of all taxes 051227", "2027-12-05"),
        ("MRP Rs.\n05112027\nBEST BEFORE", "2027-11-05"),
        ("USE BY:\nMRP:\n120527\nRs 45", "2027-05-12"),
        ("Pris: 29,90 kr.\n10.2027", "2027-10-31"),
        # Two production keywords over an & pair: the later date printed is the expiry date.
        ("MFG & PKD: 04/26 & 05/26\n04/27", "2027-04-30"),
        ("MFD: 04/26 & 05/26\n09/27", "2027-09-30"),
        # A footnote or a tag is no legend; a keyword right before a symbol keeps its date.
        ("Mfd. Date* 05/26\n*Best before 6 months from mfd.", "2026-11-30"),
        ("*Mfd. date\nPKD 05/26\nEXP * 04/27", "2027-04-30"),
        ("#PKD fresh daily\nPKD: 05/26 Use by # 11/26", "2026-11-30"),
        ("Batch #\nMFD 05/26\nUse by # 04/27\n#Mfd. @Use before", "2027-04-30"),
        ("#MFD @USE BEFORE\n# 05/2026 @ 04/2028\n1800 12/2031", "2028-04-30"),
        # A line code after a date ("08.27 ML") leaves it a date.
        ("08.27 ML\nMFD 08.26", "2027-08-31"),
        # A lot or batch code after a number sign is no date ("Lot # 051226", "B.No. 110527").
        ("Lot # 051226\nEXP 12/2027", "2027-12-31"),
        ("B.No. 110527\nMfd 09/23\nExp 08/26", "2026-08-31"),
    ],
)
def test_indian_labels_a_review_tried(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected, (text, best)


def test_a_price_is_no_compact_date() -> None:
    assert parse_dates("MRP Rs. 140135", REF).best is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Japan's Reiwa era (year 1 is 2019): its name, or its letter on a Japanese label.
        ("賞味期限 令和9年5月12日", "2027-05-12"),
        ("賞味期限 令和9年5月", "2027-05-31"),
        ("賞味期限 R9.05.12", "2027-05-12"),
        ("消費期限 R8.12.5", "2026-12-05"),
        ("賞味期限 令和元年12月", "2019-12-31"),  # 元: the era's first year
        # A two-digit year, then the month, after a year-first label's keyword.
        ("賞味期限 27.05", "2027-05-31"),
        ("유통기한 27.05", "2027-05-31"),
    ],
)
def test_japanese_era_years(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected


@pytest.mark.parametrize("text", ["R12.50", "価格 R12.50", "令和 7年産", "净含量 27.05", "EXP 27.05"])
def test_an_era_letter_is_no_date_outside_a_japanese_date(text: str) -> None:
    assert parse_dates(text, REF).best is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Canada's bilingual month symbols, year (optional) then month then day (CFIA).
        ("BEST BEFORE\nMEILLEUR AVANT\n2027 JA 15", "2027-01-15"),
        ("BB/MA 27 MR 03", "2027-03-03"),
        ("BB/MA JN 30", "2027-06-30"),
        ("BEST BEFORE/MEILLEUR AVANT\nJL 14\nL1234", "2027-07-14"),
        ("PACKAGED ON/EMBALLE LE\n26 NO 02\nBEST BEFORE/MEILLEUR AVANT\n26 DE 02", "2026-12-02"),
        ("MEILLEUR AVANT 12/05/2027", "2027-05-12"),
        # Canada prints a numeric best-before date year first (B.01.007), unless its dates cannot
        # be (an export pack's day-first 15.05.27).
        ("MEILLEUR AVANT 27 05 15", "2027-05-15"),
        ("BEST BEFORE / MEILLEUR AVANT\n27/05/15", "2027-05-15"),
        ("MEILLEUR AVANT 15.05.27", "2027-05-15"),
        # The "MA" of a spaced "BB / MA" is no month (a review: it read 15 May).
        ("BB / MA 15/01/2027", "2027-01-15"),
        ("BB / MA 27 JA 15", "2027-01-15"),
    ],
)
def test_canadian_month_symbols(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected
    assert best.kind is DateKind.EXPIRY


@pytest.mark.parametrize(
    "text",
    [
        # Two letters are everywhere: without a Canadian phrase, or without a year or a keyword
        # before them, they are words ("de 15 à 20 min", "MA 12").
        "BEST BEFORE 12 DE 2027",
        "Cuire DE 15 A 20 MIN AU 12",
        # French ranges after a Canadian phrase (a review): minutes, "du ... au".
        "BEST BEFORE / MEILLEUR AVANT\n15 AU 20 MIN AU FOUR",
        "BB/MA\nMICRO-ONDES: 12 AU 14 MIN",
        "PRODUIT DU CANADA MEILLEUR AVANT\nVOIR COUVERCLE\n12 AL 2X",
        "MEILLEUR AVANT: VOIR COUVERCLE\nCuire de 15 a 20 min",
        "MA 12 kcal",
    ],
)
def test_month_symbols_are_no_dates_outside_a_canadian_date(text: str) -> None:
    assert parse_dates(text, REF).best is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CONSUMIR ATE jun 14 202313:45", "2023-06-14"),
        ("VENC OCT 03 202208:05", "2022-10-03"),
        ("Use by Junho 30 202813:45", "2028-06-30"),
    ],
)
def test_a_month_day_and_year_glued_to_a_time_keep_their_year(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected and not best.year_inferred


@pytest.mark.parametrize(
    "text",
    [
        "DD/MM/YY",
        "(y年/m月/d日)",
        "MM/YYYY",
        "13:45",
        "PRICE 12.30",
        "R$ 10.29",
        "12.50 €",
        "LOTE 120826",
        "L:231A",
        "1L",
        "ผลิตภัณฑ์ 1 ชิ้น",
    ],
)
def test_not_dates(text: str) -> None:
    assert parse_dates(text, REF).candidates == ()


def test_the_callers_order_wins_over_the_label() -> None:
    best = parse_dates("賞味期限 03.04.27", REF, DateOrder.DMY).best
    assert best is not None and best.date == dt.date(2027, 4, 3)
    best = parse_dates("賞味期限 27.04.03", REF).best
    assert best is not None and best.date == dt.date(2027, 4, 3)


def test_default_order_applies_without_evidence() -> None:
    best = parse_dates("03/04/27", REF, default_order=DateOrder.MDY).best
    assert best is not None and best.date == dt.date(2027, 3, 4)
    best = parse_dates("EXP DD/MM/YY 03/04/27", REF, default_order=DateOrder.MDY).best
    assert best is not None and best.date == dt.date(2027, 4, 3)


def test_a_date_only_month_first_sets_the_labels_order() -> None:
    result = parse_dates("MFG 12/25/2026\nEXP 03/04/2027", REF)
    assert [c.date.isoformat() for c in result.candidates] == ["2026-12-25", "2027-03-04"]
    # Day-first evidence on the same label: each date is read as it can be.
    result = parse_dates("12/25/2026\n25/12/2026\nEXP 03/04/2027", REF)
    assert result.best is not None and result.best.date == dt.date(2027, 4, 3)


@pytest.mark.parametrize("text", ["Kabr 12 2031", "HJune 02 2029", "LOT 4471 12 2027", "4A7 06 2027"])
def test_month_and_year_with_a_space_need_a_keyword(text: str) -> None:
    # Without one, "12 2031" is as likely the end of a date whose start OCR garbled.
    assert parse_dates(text, REF).best is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LOT/EXP: 261130 05/2027", "2027-05"),
        ("LOT / EXP 261130 12.05.27", "2027-05-12"),
        ("LOT/MFG/EXP: 261130 01/2026 05/2027", "2027-05"),
        # A lot code beside its keyword, then a header of dates: the lot is no column.
        ("LOTE 4A7 FAB/VAL 12/05/2026 12/05/2028", "2028-05-12"),
        ("EXP/LOT: 05/2027 261130", "2027-05"),
        # A header with a lot column but no lot code among the dates: the date keywords' columns.
        ("LOT/MFG/EXP: 12/05/2026 12/05/2028 L4A7", "2028-05-12"),
        ("LOTE/FAB/VAL:\n12/05/2026\n12/05/2028", "2028-05-12"),
        ("LOTE/FAB/VAL: 4A7 12/05/2026 12/05/2028", "2028-05-12"),
    ],
)
def test_a_lot_keyword_that_opens_a_header_names_its_column(text: str, expected: str) -> None:
    # The lot's code is date-shaped (261130): read as the header's first date, it was the expiry.
    best = parse_dates(text, REF).best
    assert best is not None and best.kind is DateKind.EXPIRY, text
    assert best.date.isoformat()[: len(expected)] == expected, (text, best)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("หมดอายุ 15.08.2570", "2027-08-15"),
        ("ผลิต 01/01/2569 หมดอายุ 01/01/2570", "2027-01-01"),
        ("EXP 2570-04-01", "2027-04-01"),
        ("ควรบริโภคก่อน 08/2570", "2027-08"),
        ("BBE 30 พ.ย. 2569", "2026-11-30"),
    ],
)
def test_thai_buddhist_era_years(text: str, expected: str) -> None:
    # Thailand's solar calendar is 543 years ahead: 2570 B.E. is 2027.
    best = parse_dates(text, REF).best
    assert best is not None, text
    assert best.date.isoformat()[: len(expected)] == expected, (text, best)


def test_a_buddhist_era_year_is_never_also_read_as_a_common_era_one() -> None:
    # The eras' year windows do not overlap: 2541 is neither 2541 nor 1998 (outside the window).
    assert parse_dates("EXP 01.01.2541", REF).best is None


@pytest.mark.parametrize(
    "text",
    [
        "EXP/LOT: SEE BOTTOM\ndd 091025",
        "Best before end: see base of can\n12/05/2027 L1234",
        "A consommer de préférence avant le : voir couvercle\n12.05.2027",
        "Mindestens haltbar bis: siehe Deckel\n12.05.2027",
        "Consumir antes de: ver tapa 12.05.2027",
        "Ten minste houdbaar tot: zie deksel\n12.05.2027",
        "保质期至：见瓶盖\n2027-05-12",
        "賞味期限：枠外下部に記載\n2027.05.12",
        "유통기한: 별도표기\n2027.05.12",
    ],
)
def test_a_keyword_that_points_elsewhere_labels_no_date(text: str) -> None:
    # "EXP/LOT: SEE BOTTOM" over a production date in a script the OCR cannot read (hard set v5
    # 1000271): the date under it is no expiry date; the label's expiry is printed elsewhere.
    result = parse_dates(text, REF)
    assert [candidate.kind for candidate in result.candidates] == [DateKind.UNKNOWN]


def test_a_keyword_pointing_elsewhere_leaves_the_expiry_to_the_date_its_own_keyword_labels() -> None:
    result = parse_dates("EXP/LOT: SEE BOTTOM\ndd 091025\nDLUO 200228", REF)
    assert result.best is not None and result.best.date == dt.date(2028, 2, 20)
    assert result.best.kind is DateKind.EXPIRY


@pytest.mark.parametrize(
    "text",
    [
        "Best before: see below\n12/05/2027",
        "A consommer avant le : voir ci-dessous 12.05.2027",
        "A consommer de préférence avant le : voir ci-contre 12.05.2027",
        "Da consumarsi preferibilmente entro: vedi a lato 12.05.2027",
        "Consumir antes de: ver al lado 12.05.2027",
        "HSD: xem phía dưới\n12.05.2027",
        "保质期至：见下方\n2027-05-12",
    ],
)
def test_a_keyword_pointing_beside_it_labels_the_date_there(text: str) -> None:
    result = parse_dates(text, REF)
    assert result.best is not None and result.best.kind is DateKind.EXPIRY
    assert result.best.date == dt.date(2027, 5, 12)


@pytest.mark.parametrize(
    "text",
    [
        "生产日期：见封口\n20260512",
        "MFG DATE: SEE BOTTOM\n20260512",
        "NSX: xem trên bao bì\n12/05/2026",
    ],
)
def test_a_manufacture_keyword_pointing_elsewhere_keeps_its_date(text: str) -> None:
    # Chinese packs print the production date beside "见封口": the date stays a production date,
    # never the answer (with the shelf life they print beside it, tests/pipeline/test_shelf_life.py).
    result = parse_dates(text, REF)
    assert [candidate.kind for candidate in result.candidates] == [DateKind.MANUFACTURE]
    assert result.best is None


def test_the_dutch_use_by_phrase_split_by_ocr_still_names_the_expiry_date() -> None:
    # "TE" read as a line of its own (hard set v5 1000509 read upscaled): "GEBRUIKEN TOT" still
    # labels its date, over the production date that a header's lost "M" left under "EXP".
    best = parse_dates("FG/EXP\n22042023\nTE\nGEBRUIKEN TOT\n15062024", REF).best
    assert best is not None and best.date.isoformat() == "2024-06-15" and best.kind is DateKind.EXPIRY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # What coders abbreviate and US, Canadian and Australian packs print besides the labelling
        # rules' terms: each names an expiry date, over a production date the label prints too
        # (a review found them read as unlabelled).
        ("BEST BEF 13 10 2026", "2026-10-13"),
        ("BEST BEF END 10 2026", "2026-10-31"),
        ("BEST IF USED BEFORE 15/09/2025", "2025-09-15"),
        ("MFG 12/03/2024\nENJOY BY 15 SEP 2025\n12/03/24", "2025-09-15"),
        ("USE OR FREEZE BY 09/15/2025", "2025-09-15"),
        ("FRESHEST BY 15 SEP 2025", "2025-09-15"),
        ("M.H.D. 15.09.2025", "2025-09-15"),
        ("Son Kul. Tar. 15.09.2025", "2025-09-15"),
    ],
)
def test_more_expiry_phrases_name_their_dates(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected and best.kind is DateKind.EXPIRY, (
        text,
        best,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Offer valid until 31/12/2026\n15/03/2027 L2", "2027-03-15"),
        ("Consumir preferentemente antes del 15/09/2025. Cupón caduca el 31/12/2025", "2025-09-15"),
        ("Best quality before opening\n12/03/2025 15/09/2026", "2026-09-15"),
    ],
)
def test_a_promotions_or_storage_advices_date_is_no_expiry_date(text: str, expected: str) -> None:
    # Promotions and coupons print "valid until", "caduca"; storage advice "best quality before
    # opening" (a review's findings): none of them labels the pack's date.
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected, best


@pytest.mark.parametrize("text", ["Herstellungsdatum: 12.03.2024", "Verpackt am 12.03.2024"])
def test_more_german_production_phrases_name_their_dates(text: str) -> None:
    (found,) = parse_dates(text, REF).candidates
    assert found.kind is DateKind.MANUFACTURE and found.date == dt.date(2024, 3, 12), found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Japanese print pads a one-digit month or day with a space (realworld6); "2018. 6.12" had
        # read as June 2012 (its "6.12" a month and year), "18. 12. 9" as no date.
        ("2018. 6.12", "2018-06-12"),
        ("2017. 8.18", "2017-08-18"),
        ("2018.12. 9", "2018-12-09"),
        ("2018. 5. 7", "2018-05-07"),
        ("賞味期限 2027. 5.12", "2027-05-12"),
        ("18. 12. 9", "2018-12-09"),
        ("18.12. 9", "2018-12-09"),
    ],
)
def test_a_year_first_date_with_a_field_padded_by_a_space_is_read_whole(text: str, expected: str) -> None:
    best = parse_dates(text, REF).best
    assert best is not None and best.date.isoformat() == expected, best


@pytest.mark.parametrize("text", ["18.12.9", "5.12. 9", "LOT 12. 34. 5"])
def test_a_one_digit_last_field_without_its_padding_or_a_two_digit_year_is_no_date(text: str) -> None:
    assert parse_dates(text, REF).best is None
