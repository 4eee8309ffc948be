"""Chinese numerals <-> int, in the style statutes use (第十条, 第一百一十条, 第一千零一条).

Article numbers are written in Chinese in the corpus but compared, sorted and
looked up as integers, so both directions must agree exactly (round-trip).
Article references (第X条之Y) and the ``ArticleRef`` type are ``ingest.articles``.
"""

from __future__ import annotations

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000}
_DIGIT_CHARS = "零一二三四五六七八九"
NUMERAL_CHARS = "零〇一二三四五六七八九十百千两"


def cn_to_int(text: str) -> int:
    """Parse a Chinese numeral below 10000 (一千二百零二 -> 1202, 十二 -> 12)."""
    if not text or any(ch not in DIGITS and ch not in UNITS for ch in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    total = 0
    digit: int | None = None
    last_unit = 10_000
    for ch in text:
        if ch in DIGITS:
            if digit:
                raise ValueError(f"two digits in a row in {text!r}")
            digit = DIGITS[ch]
            continue
        unit = UNITS[ch]
        if unit >= last_unit:
            raise ValueError(f"units out of order in {text!r}")
        if digit == 0:
            raise ValueError(f"零 before a unit in {text!r}")
        # A bare leading 十 means 一十 (十二 == 12); any other bare unit is malformed.
        if digit is None and not (unit == 10 and total == 0):
            raise ValueError(f"unit without a digit in {text!r}")
        total += (1 if digit is None else digit) * unit
        last_unit = unit
        digit = None
    if digit:
        total += digit
    if total == 0 and set(text) - {"零", "〇"}:
        raise ValueError(f"not a Chinese numeral: {text!r}")
    return total


def int_to_cn(number: int) -> str:
    """Write 1..9999 as statutes do: 十, 十一, 一百一十, 一千零一, 一千二百零二."""
    if not 0 < number < 10_000:
        raise ValueError(f"out of range: {number}")
    parts: list[str] = []
    need_zero = False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = number // unit % 10
        if digit == 0:
            need_zero = bool(parts)
            continue
        if need_zero:
            parts.append("零")
            need_zero = False
        parts.append(_DIGIT_CHARS[digit] + name)
    out = "".join(parts)
    return out[1:] if out.startswith("一十") else out
