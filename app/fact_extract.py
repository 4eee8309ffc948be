"""Find the checkable facts in a piece of legal text: numbers, roles, modality, clause numbers, laws.

Shared by the changed-fact check (``app/facts.py``), which compares a statement's facts with its
cited passages', so both sides must be read by exactly the same rules.  Every fact is normalised
(三倍 == 3倍, 十五日 == 15天, 五十万元 == 500000元, 商家 == 经营者) and keeps its span, so the
remaining text can be compared word by word with the facts masked out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from app.citations_ref import STATUTE_ALIASES
from app.fact_lexicon import (
    KE_MODAL_BEFORE,
    LOWER_BOUNDS_AFTER,
    LOWER_BOUNDS_BEFORE,
    MODALITY_GUARDS,
    MODALITY_OF,
    MODALITY_RE,
    NEGATORS,
    NOT_NEGATIONS,
    ROLE_OF,
    ROLE_RE,
    UNITS,
    UPPER_BOUNDS_AFTER,
    UPPER_BOUNDS_BEFORE,
)
from ingest.numerals import cn_to_int

_FULLWIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")
_CN_DIGITS = "零〇一二两三四五六七八九"
_CN_NUM = _CN_DIGITS + "十百千万亿"
_NUM = rf"\d+(?:\.\d+)?[万亿]?|[{_CN_NUM}]+"
_UNIT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?P<pct>百分之|千分之)?(?P<a>{_NUM})(?:(?:至|到|－|-|～|~)(?P<b>{_NUM}))?(?P<unit>{_UNIT})?"
)
_ARTICLE = re.compile(rf"第\s*(\d+|[{_CN_NUM}]+)\s*条(?:之([一二三四五六七八九十]+))?")
_BARE_ARTICLE = re.compile(r"(?<=[法典》])\s*(\d+)\s*条")
_PARA = re.compile(r"第([一二三四五六七八九十]+|\d+)款")
_ITEM = re.compile(r"第?[（(]([一二三四五六七八九十]+|\d+)[）)]项?|第([一二三四五六七八九十]+|\d+)项|([①-⑳])")
_HEADING = re.compile(rf"^\s*第([{_CN_NUM}]+)条(?:之([一二三四五六七八九十]+))?[\s　]")
_OTHER_DOCS = {"用户协议": "agreement"}
_LAW_NAMES = {alias: doc for doc, aliases in STATUTE_ALIASES.items() for alias in aliases} | _OTHER_DOCS
_LAW = re.compile("|".join(re.escape(n) for n in sorted(_LAW_NAMES, key=len, reverse=True)), re.IGNORECASE)
_PREPOSITIONS = set("向对由给与被因和及将把从")


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    unit: str  # as compared: 倍 元 % 日 月 年 岁 …
    bound: str  # "upper" (以下, 不超过 …), "lower" (以上, 至少 …) or ""
    text: str

    def matches(self, other: Number) -> bool:
        """Same quantity; a stated limit must be the passage's limit, an unstated one matches any."""
        same = abs(self.value - other.value) < 1e-9 and self.unit == other.unit
        return same and (not self.bound or self.bound == other.bound)


@dataclass(frozen=True, slots=True)
class Facts:
    numbers: tuple[Number, ...]
    roles: tuple[tuple[str, str], ...]  # (role id, word as written), in order
    modalities: tuple[tuple[str, str], ...]  # (class, word as written)
    articles: tuple[tuple[tuple[int, int], str], ...]  # ((number, 之 suffix), as written)
    paras: tuple[tuple[int, str], ...]  # (款 number, as written)
    items: tuple[tuple[int, str], ...]  # (项 number, as written: （二） / 第二项 / ②)
    laws: tuple[tuple[str, str], ...]  # (doc id, name as written)
    subject: str  # role id of the clause's subject when a role opens it, else ""
    masked: str  # the text with every fact replaced by "，"


def number_value(raw: str) -> float | None:
    """12 / 0.5 / 5万 / 十五 / 五十万 / 一千二百 / 二〇二一 -> value; None when it is not a numeral."""
    raw = raw.translate(_FULLWIDTH)
    scale = 1
    if raw[-1] in "万亿" and raw[:-1].replace(".", "", 1).isdigit():
        raw, scale = raw[:-1], 10**4 if raw[-1] == "万" else 10**8
    if raw.replace(".", "", 1).isdigit():
        return float(raw) * scale
    if len(raw) > 1 and all(ch in _CN_DIGITS for ch in raw):
        return float("".join(str(_digit(ch)) for ch in raw))  # 二〇二一
    total, rest = 0, raw
    for unit, mult in (("亿", 10**8), ("万", 10**4)):
        if unit in rest:
            head, rest = rest.split(unit, 1)
            value = _below_10000(head or "一")
            if value is None:
                return None
            total += value * mult
    rest = rest.lstrip("零〇")
    if rest:
        value = _below_10000(rest)
        if value is None:
            return None
        total += value
    return float(total) if total else None


def _digit(ch: str) -> int:
    return 0 if ch in "零〇" else cn_to_int(ch)


def _below_10000(text: str) -> int | None:
    text = text.replace("两", "二").replace("〇", "零")
    if text[0] in "百千":
        text = "一" + text
    try:
        return cn_to_int(text)
    except ValueError:
        return None


def _numbers(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int, Number]]:
    out = []
    for m in _NUMBER.finditer(text):
        unit = "%" if m.group("pct") else UNITS.get(m.group("unit") or "")
        if not unit or m.start() > 0 and text[m.start() - 1] == "第" or _overlaps(m.start(), m.end(), taken):
            continue
        if m.group("unit") == "年" and text[m.end() : m.end() + 1] == "度":
            continue  # 上一年度 is a period, not a length
        divisor = 10.0 if m.group("pct") == "千分之" else 1.0
        values = [number_value(m.group("a")), number_value(m.group("b")) if m.group("b") else None]
        start, end, bound = m.start(), m.end(), ""
        if not m.group("b"):
            before = next(
                (w for w in (*UPPER_BOUNDS_BEFORE, *LOWER_BOUNDS_BEFORE) if text[:start].endswith(w)), ""
            )
            after = next(
                (w for w in (*UPPER_BOUNDS_AFTER, *LOWER_BOUNDS_AFTER) if text.startswith(w, end)), ""
            )
            bound = _direction(after or before)
            start, end = start - len(before), end + len(after)
        bounds = ("lower", "upper") if m.group("b") else (bound, "")  # 三十至五十年: from 30, up to 50
        for value, limit in zip(values, bounds, strict=True):
            if value is not None:
                out.append((start, end, Number(value / divisor, unit, limit, text[start:end])))
    return _ranges(text, out)


def _ranges(text: str, found: list[tuple[int, int, Number]]) -> list[tuple[int, int, Number]]:
    """三十年至五十年 is a range too: its ends are a lower and an upper limit."""
    out = list(found)
    for k in range(len(out) - 1):
        (s1, e1, a), (s2, e2, b) = out[k], out[k + 1]
        if text[e1:s2] in ("至", "到", "-", "～", "~") and a.unit == b.unit and not a.bound and not b.bound:
            out[k] = (s1, e1, Number(a.value, a.unit, "lower", a.text))
            out[k + 1] = (s2, e2, Number(b.value, b.unit, "upper", b.text))
    return out


def _direction(word: str) -> str:
    if word in UPPER_BOUNDS_BEFORE or word in UPPER_BOUNDS_AFTER:
        return "upper"
    return "lower" if word else ""


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def _modal(text: str, m: re.Match) -> bool:
    before, after = MODALITY_GUARDS.get(m.group(0), ("", ""))
    prev = text[m.start() - 1] if m.start() else ""
    nxt = text[m.end()] if m.end() < len(text) else ""
    if m.group(0) == "可":
        return bool(nxt) and nxt in KE_MODAL_BEFORE and prev not in "许认不宁"
    return not (prev and prev in before or nxt and nxt in after)


def article_key(raw_number: str, suffix: str | None) -> tuple[int, int] | None:
    value = number_value(raw_number)
    if not value:
        return None
    return int(value), int(number_value(suffix) or 0) if suffix else 0


def _small(raw: str) -> int:
    if raw in "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳":
        return ord(raw) - ord("①") + 1
    return int(number_value(raw) or 0)


@lru_cache(maxsize=8192)
def extract(text: str) -> Facts:
    """Every fact in ``text`` (a statement, a clause or a passage), with the facts masked out."""
    text = text.translate(_FULLWIDTH)
    spans: list[tuple[int, int]] = []
    laws = []
    for m in _LAW.finditer(text):
        name = m.group(0)
        bracketed = text[m.start() - 1 : m.start()] == "《" or text[m.end() : m.end() + 1] == "》"
        if len(name) >= 3 or bracketed:
            laws.append((_LAW_NAMES.get(name) or _LAW_NAMES[name.upper()], name))
            spans.append(m.span())
    articles = []
    for m in [*_ARTICLE.finditer(text), *_BARE_ARTICLE.finditer(text)]:
        key = article_key(m.group(1), m.group(2) if m.re is _ARTICLE else None)
        if key and not _overlaps(*m.span(), spans):
            articles.append((m.start(), key, m.group(0).strip()))
    spans += [(start, start + len(raw)) for start, _k, raw in articles]
    paras = [(m.span(), _small(m.group(1)), m.group(0)) for m in _PARA.finditer(text)]
    items = [(m.span(), _small(next(g for g in m.groups() if g)), m.group(0)) for m in _ITEM.finditer(text)]
    spans += [s for s, _k, _w in paras] + [s for s, _k, _w in items]
    numbers = _numbers(text, spans)
    spans += [(s, e) for s, e, _ in numbers]
    roles = []
    for m in ROLE_RE.finditer(text):
        if m.group(0) in ROLE_OF and not _overlaps(*m.span(), spans):
            roles.append((m.start(), ROLE_OF[m.group(0)], m.group(0)))
            spans.append(m.span())
    modalities = [
        (m.start(), MODALITY_OF[m.group(0)], m.group(0))
        for m in MODALITY_RE.finditer(text)
        if _modal(text, m) and not _overlaps(*m.span(), spans)
    ]
    spans += [(s, s + len(w)) for s, _c, w in modalities]
    masked = list(text)
    for s, e in spans:
        masked[s:e] = "，" * (e - s)
    return Facts(
        numbers=tuple(n for _s, _e, n in numbers),
        roles=tuple((r, w) for _s, r, w in sorted(roles)),
        modalities=tuple((c, w) for _s, c, w in sorted(modalities)),
        articles=tuple((k, raw) for _s, k, raw in sorted(articles)),
        paras=tuple((k, w) for _s, k, w in paras),
        items=tuple((k, w) for _s, k, w in items),
        laws=tuple(laws),
        subject=_subject(text, roles),
        masked="".join(masked),
    )


def _subject(text: str, roles: list[tuple[int, str, str]]) -> str:
    """The role that opens the clause (its grammatical subject), if any: 销售者赔偿后 -> seller."""
    if not roles:
        return ""
    start, role, _word = min(roles)
    lead = _HEADING.sub("", text[:start]).strip(' 　\n"“')
    return role if len(lead) <= 2 and not _PREPOSITIONS & set(lead) else ""


def own_articles(text: str, source: str) -> set[tuple[int, int]]:
    """The article a statute passage *is* (its heading, or the 第X条 of its locator)."""
    found = set()
    for m in [_HEADING.match(text), *_ARTICLE.finditer(source)]:
        if m and (key := article_key(m.group(1), m.group(2))):
            found.add(key)
    return found


def paragraph_count(text: str) -> int:
    """款 of a statute article: its non-empty lines that are not enumerated items."""
    return sum(1 for line in text.splitlines() if line.strip() and not _ITEM.match(line.strip()))


def negated_at(text: str, at: int, negators: str = NEGATORS, *, length: int = 2) -> bool:
    """Is the ``length``-character word at ``at`` negated: 不/未/没/无/非/勿 in the two characters
    before it, or before the first item of the enumeration it ends (不得制作、使用、公开: 公开 too)?
    Earlier items are taken to be as long as the word itself."""
    while True:
        if any(ch in negators for ch in _without_non_negations(text, at)):
            return True
        if at < length + 1 or text[at - 1] != "、" or _ITEM_BREAK & set(text[at - 1 - length : at - 1]):
            return False
        at -= length + 1


_ITEM_BREAK = set("、，,；;。：:（()）\n")


def _without_non_negations(text: str, at: int) -> str:
    """The two characters before ``at``, blanking those that belong to 无论, 不仅, 没收 …"""
    lo = max(0, at - 2)
    chars = list(text[lo:at])
    for word in NOT_NEGATIONS:
        for m in re.finditer(re.escape(word), text[max(0, lo - len(word)) : at + len(word)]):
            base = max(0, lo - len(word)) + m.start()
            for k in range(base, base + len(word)):
                if lo <= k < at:
                    chars[k - lo] = "＿"
    return "".join(chars)
