"""One-line notes that code attaches to an answer, and the check that a saved note is one of ours.

Notes are claims too: "《生成式人工智能服务管理暂行办法》共二十四条，没有第三十条。" is
true only if the corpus says so, so the verifier re-derives every note from the
corpus instead of trusting a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.citations_ref import section_count
from ingest.articles import OtherStatute, StatuteNames
from ingest.numerals import cn_to_int, int_to_cn

DRAFTING_NOTE = "本工具不代拟文书；以下仅列出与该事项相关的法律规定，供起草时参考。"
OUTSIDE_FOCUS_NOTE = (
    "这个问题不在生成式人工智能服务民事责任的重点范围内，以下依据资料库中的一般民事法律规定作答。"
)
# 消保法 protects whoever buys "为生活消费需要" (its 第二条, quoted); a company that bought an API plan or
# a model service for its business is, as a rule, not such a consumer, and claims under its contract and
# 民法典 instead.  Attached when a business buyer's answer cites 消保法 (``app.decide.buys_for_business``).
BUSINESS_BUYER_NOTE = (
    "《消费者权益保护法》第二条：“消费者为生活消费需要购买、使用商品或者接受服务，其权益受本法保护”；"
    "公司为经营需要购买的服务一般不属于此列，通常依合同约定和《民法典》主张权利。"
)
CONSUMER_LAW = "consumer-protection-law"  # 消保法's doc id in the bundled corpus (``corpus/manifest.toml``)
FIXED_NOTES = (DRAFTING_NOTE, OUTSIDE_FOCUS_NOTE, BUSINESS_BUYER_NOTE)

_MISSING = re.compile(
    r"^(《[^》]{1,40}》)共([零〇一二两三四五六七八九十百千]+)条，没有第([零〇一二两三四五六七八九十百千]+)条(?:之([一二三四五六七八九十]+))?。$"
)


def missing_article_note(title: str, count: int, number: int, suffix: int = 0) -> str:
    tail = f"之{int_to_cn(suffix)}" if suffix else ""
    return f"{title}共{int_to_cn(count)}条，没有第{int_to_cn(number)}条{tail}。"


def is_missing_article_note(note: str) -> bool:
    """A note that says an article does NOT exist (it names the number only to deny it)."""
    return bool(_MISSING.match(note))


def missing_agreement_note(title: str, sections: int, section: int, clause: int = 0) -> str:
    """What the answer says of a part of an agreement that does not exist ("用户协议第十四条": 《用户协议》
    has 十三 sections; "用户协议第三部分第25条"; "云帆协议第九部分": the agreement named, by ``title`` as its
    citations show it)."""
    if clause:
        return f"{title}第{int_to_cn(section)}部分没有第{clause}条。"
    return f"{title}共{int_to_cn(sections)}部分，没有第{int_to_cn(section)}部分。"


def assumed_statute_note(title: str, number: int, suffix: int, others: int) -> str:
    """What the answer says when the question gives an article number without its law and more than one
    statute of the corpus has it ("第十条是什么"): which one it was read in, and that others have it too."""
    label = f"第{int_to_cn(number)}条" + (f"之{int_to_cn(suffix)}" if suffix else "")
    return f"问题未写明哪部法律，以下按{title}{label}回答；资料库另有{int_to_cn(others)}部法律也有{label}，可写明法律名称再问。"


_ASSUMED = re.compile(
    r"^问题未写明哪部法律，以下按(《[^》]{1,40}》)第([零〇一二两三四五六七八九十百千]+)条(?:之([一二三四五六七八九十]+))?回答；"
    r"资料库另有([零〇一二两三四五六七八九十百千]+)部法律也有"
)


_AGREEMENT_SECTION_MISSING = re.compile(
    r"^(《[^》]{1,40}》)共([零〇一二两三四五六七八九十百]+)部分，没有第([零〇一二两三四五六七八九十百]+)部分。$"
)
_AGREEMENT_CLAUSE_MISSING = re.compile(
    r"^(《[^》]{1,40}》)第([零〇一二两三四五六七八九十百]+)部分没有第([0-9]+)条。$"
)


def other_statute_note(other: OtherStatute) -> str:
    """What the answer says of a statute the question names that the corpus does not hold: a code the
    民法典 repealed is named as repealed (its article numbers are not the 民法典's), any other as absent."""
    if other.repealed:
        return f"《{other.name}》已于2021年1月1日《民法典》施行时废止（《民法典》第一千二百六十条）。"
    return f"资料库不含《{other.name}》，本工具不能引用或解释它的条文。"


_REPEALED = re.compile(
    r"^《([^》]{2,20})》已于2021年1月1日《民法典》施行时废止（《民法典》第一千二百六十条）。$"
)
_ABSENT = re.compile(r"^资料库不含《([^》]{2,20})》，本工具不能引用或解释它的条文。$")


# (statute title as shown, e.g. 《民法典》) → (doc id, number of articles), or None if no such statute
StatuteCount = Callable[[str], "tuple[str, int] | None"]
# (agreement title as shown, e.g. 《用户协议》) → its (section, clause) pairs, clause 0 for a section; None if
# no agreement of the corpus is shown so, empty if its file cannot be read
AgreementParts = Callable[[str], "frozenset[tuple[int, int]] | None"]


def note_problem(
    note: str,
    statute_count: StatuteCount,
    has_article: Callable[[str, int, int], bool],
    names: Callable[[], StatuteNames] | None = None,
    agreement_parts: AgreementParts | None = None,
    statutes_having: Callable[[int, int], list[str]] | None = None,
) -> str:
    """Why ``note`` is not a note this tool would attach ("" when it is).  ``names``: gives the corpus's
    statute names with the codes it repeals (read only for a note about another statute);
    ``agreement_parts``: an agreement's parts by its title as shown (《用户协议》, 《云帆协议》);
    ``statutes_having``: the doc ids of the statutes that have an article (number, suffix)."""
    if note in FIXED_NOTES:
        return ""
    assumed = _ASSUMED.match(note)
    if assumed:
        return _assumed_statute_problem(note, assumed, statute_count, has_article, statutes_having)
    part = _AGREEMENT_SECTION_MISSING.match(note) or _AGREEMENT_CLAUSE_MISSING.match(note)
    if part:
        return _agreement_part_problem(
            note, part, agreement_parts(part.group(1)) if agreement_parts else None
        )
    other = _REPEALED.match(note) or _ABSENT.match(note)
    if other:
        return _other_statute_problem(note, other.group(1), names() if names else None)
    m = _MISSING.match(note)
    if not m:
        return "不是本工具会附加的说明"
    found = statute_count(m.group(1))
    if found is None:
        return f"{m.group(1)} 不在语料中"
    doc_id, count = found
    number, suffix = cn_to_int(m.group(3)), cn_to_int(m.group(4)) if m.group(4) else 0
    if cn_to_int(m.group(2)) != count:
        return f"{m.group(1)} 共 {count} 条，说明中的条数不对"
    if has_article(doc_id, number, suffix):
        return f"{m.group(1)} 有第{m.group(3)}条，说明与语料不符"
    return ""


def _assumed_statute_problem(
    note: str,
    m: re.Match[str],
    statute_count: StatuteCount,
    has_article: Callable[[str, int, int], bool],
    statutes_having: Callable[[int, int], list[str]] | None,
) -> str:
    found = statute_count(m.group(1))
    if found is None:
        return f"{m.group(1)} 不在语料中"
    number, suffix = cn_to_int(m.group(2)), cn_to_int(m.group(3)) if m.group(3) else 0
    if not has_article(found[0], number, suffix):
        return f"{m.group(1)} 没有这一条，说明与语料不符"
    if statutes_having is None:
        return "语料中的法律无法读取，说明未核对"
    others = [doc_id for doc_id in statutes_having(number, suffix) if doc_id != found[0]]
    if not others:
        return f"资料库中只有{m.group(1)}有这一条，说明与语料不符"
    if note != assumed_statute_note(m.group(1), number, suffix, len(others)):
        return f"资料库另有 {len(others)} 部法律有这一条，说明与语料不符"
    return ""


def _other_statute_problem(note: str, name: str, names: StatuteNames | None) -> str:
    if names is None:
        return "语料中的法律名称无法读取，说明未核对"
    found = names.other_statutes(name)
    if not found or found[0].name != name:
        return f"《{name}》是语料中的法律" if names.mentions(name) else f"《{name}》不是本工具认得的法律名称"
    if note != other_statute_note(found[0]):
        return f"《{name}》{'已被《民法典》废止' if found[0].repealed else '未被语料中的法律废止'}，说明与语料不符"
    return ""


def _agreement_part_problem(note: str, m: re.Match[str], parts: frozenset[tuple[int, int]] | None) -> str:
    """``parts``: the named agreement's (section, clause) pairs, clause 0 for the section itself (None: the
    corpus has no agreement of that title)."""
    title = m.group(1)
    if parts is None:
        return f"{title} 不在语料中"
    if not parts:
        return f"语料中的{title}无法读取，说明未核对"
    sections = section_count(parts)
    if m.re is _AGREEMENT_SECTION_MISSING:
        section, clause = cn_to_int(m.group(3)), 0
    else:
        section, clause = cn_to_int(m.group(2)), int(m.group(3))
    if (section, clause) in parts:
        return f"{title}有这一部分，说明与语料不符"
    if note != missing_agreement_note(title, sections, section, clause):
        return f"{title}共 {sections} 部分，说明与语料不符"
    return ""
