"""The 要点 section: an issue is stated only when retrieval corroborates the issue matcher."""

from __future__ import annotations

from dataclasses import replace

from app.answer import IssueTag, Retrieved
from app.draft import ISSUE_HEADING_PREFIX
from app.extractive import ExtractiveAnswerer
from tests.chunks import make_chunk

RULE = "第五百七十七条　当事人一方不履行合同义务或者履行合同义务不符合约定的，应当承担继续履行、采取补救措施或者赔偿损失等违约责任。"
OTHER = "第一百八十八条　向人民法院请求保护民事权利的诉讼时效期间为三年。法律另有规定的，依照其规定。"
RANKED = "第五百八十四条　当事人一方不履行合同义务或者履行合同义务不符合约定，造成对方损失的，损失赔偿额应当相当于因违约所造成的损失。"


def _tagged(text: str, n: int, issue: str, name: str, **ranks: int) -> Retrieved:
    tag = IssueTag(issue, name, "rule", text.split("　", 1)[1])
    return Retrieved(
        make_chunk(text, n=n),
        fused_score=1.0 / (n + 1),
        via="hybrid" if ranks else "issue",
        issue=tag,
        **ranks,
    )


def test_an_issue_no_ranker_found_is_not_stated() -> None:
    outage = _tagged(RULE, 0, "outage", "服务中断/宕机的违约责任", dense_rank=2, bm25_rank=1)
    limitation = _tagged(OTHER, 1, "limitation", "诉讼时效")  # the matcher's pick alone
    ranked = replace(
        _tagged(RANKED, 2, "damages", "违约损失赔偿范围"), via="hybrid", dense_rank=30, bm25_rank=9
    )
    draft = ExtractiveAnswerer().answer("服务宕机造成损失要赔吗", [outage, limitation, ranked])
    headings = [line for line in draft.text.splitlines() if line.startswith(f"**{ISSUE_HEADING_PREFIX}")]
    assert headings == [
        f"**{ISSUE_HEADING_PREFIX}服务中断/宕机的违约责任**",
        f"**{ISSUE_HEADING_PREFIX}违约损失赔偿范围**",
    ]
    assert "诉讼时效期间" not in draft.text


def test_without_any_corroborated_issue_the_answer_has_no_key_points() -> None:
    limitation = _tagged(OTHER, 0, "limitation", "诉讼时效")
    draft = ExtractiveAnswerer().answer("名誉被AI生成内容侵害，平台要担责吗", [limitation])
    assert ISSUE_HEADING_PREFIX not in draft.text
