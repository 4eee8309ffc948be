"""The 要点 section: an issue is stated only when retrieval corroborates the issue matcher."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from app.answer import IssueTag, Retrieved
from app.citations_ref import named_source_kinds
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


ARTICLE_18 = "第十八条　经营者应当保证其提供的商品或者服务符合保障人身、财产安全的要求。对可能危及人身、财产安全的商品和服务，应当向消费者作出真实的说明和明确的警示。"
ARTICLE_26 = "第二十六条　经营者不得以格式条款、通知、声明、店堂告示等方式，作出排除或者限制消费者权利、减轻或者免除经营者责任的规定。"
PAPER = "警示说明缺陷是指生成式人工智能的提供者未对其产品的风险作出充分说明和警示而导致的缺陷。"


def _first_citation(draft) -> str:
    return draft.citations[0].quote


def test_an_article_the_question_names_is_quoted_before_the_issues() -> None:
    issue_rule = _tagged(
        ARTICLE_26, 0, "standard-terms", "经营者以格式条款限制消费者权利", dense_rank=1, bm25_rank=1
    )
    named = Retrieved(make_chunk(ARTICLE_18, n=1, article="第十八条"), fused_score=1.0, via="lookup")
    draft = ExtractiveAnswerer().answer("消保法第十八条对警示说明义务有何规定？", [named, issue_rule])
    assert "经营者应当保证" in _first_citation(draft)
    assert draft.text.index("经营者应当保证") < draft.text.index("要点")
    assert "格式条款" in draft.text  # the issue still frames it, after


ARTICLE_497 = (
    "第四百九十七条　有下列情形之一的，该格式条款无效：\n"
    "（一）具有本法第一编第六章第三节和本法第五百零六条规定的无效情形；\n"
    "（二）提供格式条款一方不合理地免除或者减轻其责任、加重对方责任、限制对方主要权利；\n"
    "（三）提供格式条款一方排除对方主要权利。"
)


def test_a_named_article_that_opens_a_list_is_quoted_with_its_items() -> None:
    """ "有下列情形之一的，该格式条款无效：" alone says nothing; the next article named still comes."""
    named = Retrieved(make_chunk(ARTICLE_497, n=0, article="第四百九十七条"), fused_score=1.0, via="lookup")
    other = Retrieved(make_chunk(ARTICLE_18, n=3, article="第十八条"), fused_score=1.0, via="lookup")
    draft = ExtractiveAnswerer().answer("民法典第四百九十七条和第十八条规定了什么？", [named, other])
    quoted = [s.text for s in draft.statements]
    assert quoted[:4] == ARTICLE_497.split("\n")
    assert any("经营者应当保证" in q for q in quoted[4:])


def test_a_list_item_is_introduced_by_the_clause_that_says_which_list() -> None:
    """著作权法第五十三条 opens its list with civil liability and ends the opening "构成犯罪的，依法追究刑事责任：";
    that last clause alone made every infringement read as a crime."""
    from app.extractive import _lead_in
    from app.sentences import split_units

    text = (
        "第五十三条　有下列侵权行为的，应当根据情况，承担本法第五十二条规定的民事责任；"
        "构成犯罪的，依法追究刑事责任：\n（一）未经著作权人许可，复制其作品的；"
    )
    item = split_units(make_chunk(text, doc_id="copyright-law", article="第五十三条"))[-1]
    lead = _lead_in(item)
    assert (
        lead is not None and lead.text.startswith("第五十三条　有下列侵权行为的") and lead.text.endswith("：")
    )


def test_a_source_the_question_names_is_quoted_first_and_a_bare_agreement_is_not_zhipus() -> None:
    issue_rule = _tagged(ARTICLE_18, 0, "warning-defect", "警示说明义务与警示缺陷", dense_rank=1, bm25_rank=2)
    paper_chunk = replace(
        make_chunk(PAPER, doc_id="paper", locator="论文 4.2.2", article="", n=1), kind="paper"
    )
    paper = Retrieved(paper_chunk, fused_score=0.5, via="hybrid", dense_rank=2, bm25_rank=1)
    asked_paper = ExtractiveAnswerer().answer("论文怎么界定警示说明缺陷？", [issue_rule, paper])
    assert PAPER in _first_citation(asked_paper)
    not_named = ExtractiveAnswerer().answer("我们的产品没写警示说明，算缺陷吗？", [issue_rule, paper])
    assert PAPER not in _first_citation(not_named)


def test_named_source_kinds() -> None:
    assert named_source_kinds("论文怎么看发展风险抗辩") == {"paper"}
    assert named_source_kinds("智谱平台停服要赔吗") == {"agreement"}
    assert named_source_kinds("该协议第八部分说了什么，博客怎么说") == {"agreement", "blog"}
    assert named_source_kinds("我们在服务协议里写了不承担责任，有效吗") == set()


def test_clauses_of_two_agreement_sections_each_stand_under_their_own_section() -> None:
    """The agreement's real clauses: 八、责任限制 第3条第③项 was once shown under 三、您的权利和义务,
    the heading of the first agreement passage of the answer."""
    from evals.train.data import corpus_chunks
    from tests.helpers import ROOT

    chunks = corpus_chunks(ROOT / "corpus")
    own, limits = chunks["agreement/3/5"], chunks["agreement/8/3/3"]
    passages = [
        Retrieved(own, fused_score=1.0, via="hybrid", dense_rank=1),
        Retrieved(limits, fused_score=0.9, via="hybrid", dense_rank=2),
    ]
    draft = ExtractiveAnswerer().answer("大模型开放平台对第三方服务和生成内容的损失负责吗", passages)
    section_of = {c.number: c.locator.split(" ")[0] for c in draft.citations}
    heading = None
    shown_under = []
    for line in draft.text.splitlines():
        if line.startswith("**") and line.endswith("**"):
            heading = line.strip("*")
        elif line.startswith("- "):
            number = int(re.findall(r"\[(\d+)\]$", line)[0])
            shown_under.append((heading, section_of[number]))
    assert set(section_of.values()) == {"《用户协议》三、您的权利和义务", "《用户协议》八、责任限制"}, (
        draft.text
    )
    assert shown_under and all(h == s for h, s in shown_under), draft.text


def test_an_enumerated_item_never_leads_the_answer_alone() -> None:
    """ "（二）产品投入流通时，引起损害的缺陷尚不存在的；" means something only under its article's opening
    words (…不承担赔偿责任：): quoted alone first it once outscored the definition the question asked for.
    Of the passage ranked first, it now opens under those words, and the definition follows."""
    items = (
        "第四十一条　因产品存在缺陷造成人身、缺陷产品以外的其他财产损害的，生产者应当承担赔偿责任。"
        "生产者能够证明有下列情形之一的，不承担赔偿责任：\n（一）未将产品投入流通的；\n"
        "（二）产品投入流通时，引起损害的缺陷尚不存在的；"
    )
    definition = "第四十六条　本法所称缺陷，是指产品存在危及人身、他人财产安全的不合理的危险。"
    passages = [Retrieved(make_chunk(items, n=0), 1.0), Retrieved(make_chunk(definition, n=1), 0.9)]
    draft = ExtractiveAnswerer().answer("缺陷怎么定义", passages)
    first, second = draft.text.splitlines()[:2]
    assert first == "生产者能够证明有下列情形之一的，不承担赔偿责任：[1]", draft.text
    assert second.startswith("（二）")
    assert "本法所称缺陷" in draft.text


def test_a_sentence_that_leans_on_the_one_before_never_leads_the_answer() -> None:
    """A proviso or an example quoted first says nothing, or the opposite of its paragraph."""
    proviso = "但是，法律另有规定的，依照其规定。当事人对合同履行的约定不明确的，可以协议补充。"
    rule = "当事人一方不履行合同义务的，应当承担继续履行、采取补救措施或者赔偿损失等违约责任。"
    passages = [Retrieved(make_chunk(proviso, n=0), 1.0), Retrieved(make_chunk(rule, n=1), 0.9)]
    draft = ExtractiveAnswerer().answer("约定不明确，法律另有规定的，违约怎么办", passages)
    assert not draft.statements[0].text.startswith("但"), draft.text


REPAIRS = (
    "第七百一十三条　承租人在租赁物需要维修时可以请求出租人在合理期限内维修。出租人未履行维修义务的，承租人可以自行维修，"
    "维修费用由出租人负担。\n因承租人的过错致使租赁物需要维修的，出租人不承担前款规定的维修义务。"
)


def test_a_paragraph_that_applies_the_one_before_never_leads_the_answer() -> None:
    """"…出租人不承担前款规定的维修义务" names a rule it does not state; quoted first, a tenant asking about a
    leak read the landlord's exception as the answer."""
    draft = ExtractiveAnswerer().answer(
        "租的房子漏水房东不修怎么办", [Retrieved(make_chunk(REPAIRS, n=0), 1.0, dense_rank=1)]
    )
    assert draft.statements[0].text.startswith("第七百一十三条　承租人在租赁物需要维修时"), draft.text


def test_a_paragraph_that_applies_the_one_before_is_quoted_after_it() -> None:
    """著作权法第五十五条's second paragraph answers "能拒绝吗", but says which powers only by 前款: it is
    quoted after the paragraph it applies, never alone."""
    powers = (
        "第五十五条　主管著作权的部门对涉嫌侵犯著作权和与著作权有关的权利的行为进行查处时，可以询问有关当事人，"
        "调查与涉嫌违法行为有关的情况；查阅、复制与涉嫌违法行为有关的合同、发票、账簿以及其他有关资料。\n"
        "主管著作权的部门依法行使前款规定的职权时，当事人应当予以协助、配合，不得拒绝、阻挠。"
    )
    draft = ExtractiveAnswerer().answer(
        "版权局上门检查要翻账簿，我能拒绝吗", [Retrieved(make_chunk(powers, n=0), 1.0, dense_rank=1)]
    )
    first, second = draft.text.splitlines()[:2]
    assert first.startswith("第五十五条　主管著作权的部门") and first.endswith("[1]"), draft.text
    assert second == "主管著作权的部门依法行使前款规定的职权时，当事人应当予以协助、配合，不得拒绝、阻挠。[1]"


def test_the_paragraphs_a_paragraph_refers_to() -> None:
    from app.extractive import _referred_paragraphs
    from app.sentences import split_units

    text = (
        "第一条　甲可以做下列事情：\n（一）买；\n（二）卖。\n乙不得妨碍。\n"
        "违反前两款规定的，应当赔偿。\n违反第一款规定的，另行处理。\n依照前项处理。"
    )
    chunk = make_chunk(text, n=0)
    by_text = {u.text: u for u in split_units(chunk)}
    both = _referred_paragraphs(by_text["违反前两款规定的，应当赔偿。"])
    assert both is not None and both.text == "第一条　甲可以做下列事情：\n（一）买；\n（二）卖。\n乙不得妨碍。"
    first = _referred_paragraphs(by_text["违反第一款规定的，另行处理。"])
    assert first is not None and first.text == "第一条　甲可以做下列事情："
    assert _referred_paragraphs(by_text["依照前项处理。"]) is None


def test_an_item_quoted_under_the_related_provisions_comes_with_the_words_that_open_its_list() -> None:
    """Under 相关规定 an item of a provision was quoted where it ranked, alone: "（四）遗嘱无效部分所涉及的遗产；"
    without "有下列情形之一的，遗产中的有关部分按照法定继承办理：", which says what the items are."""
    division = (
        "第一千一百五十三条　夫妻共同所有的财产，除有约定的外，遗产分割时，应当先将共同所有的财产的一半分出为配偶所有，"
        "其余的为被继承人的遗产。"
    )
    intestacy = (
        "第一千一百五十四条　有下列情形之一的，遗产中的有关部分按照法定继承办理：\n（一）遗嘱继承人放弃继承或者受遗赠人放弃受遗赠；\n"
        "（四）遗嘱无效部分所涉及的遗产；\n（五）遗嘱未处分的遗产。"
    )
    passages = [
        Retrieved(make_chunk(division, n=0), 1.0, dense_rank=1),
        Retrieved(make_chunk(intestacy, n=1), 0.9, dense_rank=2),
    ]
    draft = ExtractiveAnswerer().answer("父亲的遗嘱没写到的那部分遗产怎么分", passages)
    bullets = [line for line in draft.text.splitlines() if line.startswith("- ")]
    items = [n for n, line in enumerate(bullets) if line.startswith("- （")]
    assert items, draft.text
    assert bullets[items[0] - 1] == "- 第一千一百五十四条　有下列情形之一的，遗产中的有关部分按照法定继承办理：[2]", draft.text


def test_of_sentences_sharing_the_same_words_the_rule_before_its_special_case_leads() -> None:
    """Damped by length, the short special case outscored the rule when both shared the same words."""
    estate = (
        "第一千一百五十三条　夫妻共同所有的财产，除有约定的外，遗产分割时，应当先将共同所有的财产的一半分出为配偶所有，"
        "其余的为被继承人的遗产。\n遗产在家庭共有财产之中的，遗产分割时，应当先分出他人的财产。"
    )
    draft = ExtractiveAnswerer().answer(
        "爸爸去世了遗产分割怎么弄", [Retrieved(make_chunk(estate, n=0), 1.0, dense_rank=1)]
    )
    assert draft.statements[0].text.startswith("第一千一百五十三条"), draft.text
    more = ExtractiveAnswerer().answer(  # a sentence sharing more of the question still wins
        "家庭共有财产里的遗产分割怎么弄", [Retrieved(make_chunk(estate, n=0), 1.0, dense_rank=1)]
    )
    assert more.statements[0].text.startswith("遗产在家庭共有财产之中的"), more.text


def test_the_first_ranked_provision_decided_by_a_list_item_leads_with_the_words_that_open_its_list() -> None:
    """第四百一十四条 decides "抵押给两个人，一个登记了一个没登记" only in its items; without the opening
    words an item could not lead, and the answer opened with another article."""
    priority = (
        "第四百一十四条　同一财产向两个以上债权人抵押的，拍卖、变卖抵押财产所得的价款依照下列规定清偿：\n"
        "（一）抵押权已经登记的，按照登记的时间先后确定清偿顺序；\n（二）抵押权已经登记的先于未登记的受偿；\n"
        "（三）抵押权未登记的，按照债权比例清偿。"
    )
    pledge = "第四百一十五条　同一财产既设立抵押权又设立质权的，拍卖、变卖该财产所得的价款按照登记、交付的时间先后确定清偿顺序。"
    passages = [
        Retrieved(make_chunk(priority, n=0), 1.0, dense_rank=1),
        Retrieved(make_chunk(pledge, n=1), 0.9, dense_rank=2),
    ]
    draft = ExtractiveAnswerer().answer("车先后抵押给两个人，一个登记了一个没登记，卖车的钱先给谁", passages)
    first, second = draft.text.splitlines()[:2]
    assert first == "第四百一十四条　同一财产向两个以上债权人抵押的，拍卖、变卖抵押财产所得的价款依照下列规定清偿：[1]", draft.text
    assert second.startswith("（") and second.endswith("[1]")


def test_an_item_that_speaks_to_the_question_leads_though_another_sentence_could_stand_alone() -> None:
    """产品质量法第四十条's only sentence that stands alone is its last paragraph, on contracts between
    sellers; the item on goods worse than shown decides "衣服质量太差" and leads under its list's opening words."""
    article = (
        "第四十条　售出的产品有下列情形之一的，销售者应当负责修理、更换、退货；给购买产品的消费者造成损失的，销售者应当赔偿损失：\n"
        "（一）不具备产品应当具备的使用性能而事先未作说明的；\n（二）不符合在产品或者其包装上注明采用的产品标准的；\n"
        "（三）不符合以产品说明、实物样品等方式表明的质量状况的。\n"
        "生产者之间，销售者之间，生产者与销售者之间订立的买卖合同、承揽合同有不同约定的，合同当事人按照合同约定执行。"
    )
    draft = ExtractiveAnswerer().answer(
        "网上买的衣服质量太差商家不给退", [Retrieved(make_chunk(article, n=0), 1.0, dense_rank=1)]
    )
    first, second = draft.text.splitlines()[:2]
    assert first.startswith("第四十条　售出的产品有下列情形之一的") and first.endswith("：[1]"), draft.text
    assert second == "（三）不符合以产品说明、实物样品等方式表明的质量状况的。[1]"


def test_an_issue_whose_provision_its_gloss_ranked_is_stated() -> None:
    """The lay gloss ranks its article apart from the issue matcher: "房东不退押金" shares no word with
    第七百一十条 and dense retrieval misses it, but the gloss (押金 退租 …) finds it, which corroborates
    the issue as a ranker's own find would."""
    deposit = _tagged(RANKED, 0, "deposit", "租房押金")
    without = ExtractiveAnswerer().answer("房东不退押金", [deposit])
    assert ISSUE_HEADING_PREFIX not in without.text
    glossed = replace(deposit, via="hybrid", gloss_rank=3)
    draft = ExtractiveAnswerer().answer("房东不退押金", [glossed])
    assert f"**{ISSUE_HEADING_PREFIX}租房押金**" in draft.text


def test_a_decisive_list_item_is_quoted_under_the_words_that_open_its_list() -> None:
    """第四百九十七条's item （二） states a condition; its consequence (该格式条款无效) is in the words that
    open the list, so 要点 quotes those first, from the same passage, and the issue's next provision still follows."""
    article = (
        "第四百九十七条　有下列情形之一的，该格式条款无效：\n（一）具有本法第一编第六章第三节和本法第五百零六条规定的无效情形；\n"
        "（二）提供格式条款一方不合理地免除或者减轻其责任、加重对方责任、限制对方主要权利；"
    )
    item = "（二）提供格式条款一方不合理地免除或者减轻其责任、加重对方责任、限制对方主要权利；"
    rule = Retrieved(
        make_chunk(article, n=0),
        1.0,
        via="hybrid",
        dense_rank=1,
        issue=IssueTag("standard-terms", "格式条款免责的效力", "rule", item),
    )
    clause = Retrieved(
        make_chunk(
            ARTICLE_26, n=1, doc_id="consumer", locator="《消费者权益保护法》第二十六条", article="第二十六条"
        ),
        0.9,
        via="hybrid",
        dense_rank=2,
        issue=IssueTag("standard-terms", "格式条款免责的效力", "exception"),
    )
    draft = ExtractiveAnswerer().answer("协议里写平台对输出一概不负责，有效吗", [rule, clause])
    bullets = [line for line in draft.text.splitlines() if line.startswith("- ")]
    assert bullets[0].startswith("- 第四百九十七条　有下列情形之一的，该格式条款无效：[1]"), draft.text
    assert bullets[1].startswith(f"- {item}[1]")
    assert bullets[2].startswith("- 第二十六条") and bullets[2].endswith("[2]")


def _agreement(*ids: str):
    from evals.train.data import corpus_chunks
    from tests.helpers import ROOT

    chunks = corpus_chunks(ROOT / "corpus")
    return [chunks[i] for i in ids]


def test_an_agreement_item_is_quoted_under_the_clause_that_opens_its_list() -> None:
    """The agreement's items are chunks of their own: "③ ……设备与系统维护……等因素。" alone names a cause
    and not that the platform disclaims liability for it, which the clause above the list says."""
    head, item = _agreement("agreement/8/2", "agreement/8/2/3")
    rule = _tagged(RULE, 0, "outage", "服务中断/宕机的违约责任", dense_rank=1, bm25_rank=1)
    clause = Retrieved(
        item, 0.9, via="hybrid", dense_rank=2, issue=IssueTag("outage", "服务中断/宕机的违约责任", "clause")
    )
    brought = Retrieved(head, 0.45, via="xref")
    for passages in ([rule, clause, brought], [clause, brought]):  # in 要点, and under 相关规定
        draft = ExtractiveAnswerer().answer("平台说系统维护导致的中断不负责，对吗", passages)
        lines = draft.text.splitlines()
        at = next(n for n, line in enumerate(lines) if line.startswith("- ③ 在大模型开放平台已尽善意管理"))
        assert "并不承担相应的违约责任：" in lines[at - 1], draft.text
        cited = {c.chunk_id for c in draft.citations}
        assert {"agreement/8/2", "agreement/8/2/3"} <= cited
    alone = ExtractiveAnswerer().answer("平台说系统维护导致的中断不负责，对吗", [rule, clause])
    assert "并不承担相应的违约责任" not in alone.text  # only what retrieval brought is quoted


def test_a_markdown_bullet_is_not_quoted_as_text() -> None:
    """Lines of the agreement written as Markdown bullets ("- 智谱不对……负责。") were shown as "- - …"."""
    (clause,) = _agreement("agreement/8/7")
    draft = ExtractiveAnswerer().answer(
        "平台把我的数据删了，它负责吗", [Retrieved(clause, 1.0, dense_rank=1)]
    )
    assert draft.citations and "- - " not in draft.text, draft.text
    assert all(not s.text.startswith("- ") and s.text in clause.text for s in draft.statements)
    assert any("数据的删除" in s.text for s in draft.statements), draft.text


def test_a_kept_item_keeps_the_clause_that_opens_its_list_whatever_the_citation_judge_says() -> None:
    """The citation filter judges passages one by one; dropping the clause above a kept item left "③ ……"
    quoted on its own, without the disclaimer it is an exception to."""
    head, item = _agreement("agreement/8/2", "agreement/8/2/3")
    clause = Retrieved(item, 0.9, via="hybrid", dense_rank=1)
    brought = Retrieved(head, 0.45, via="xref")

    class DropsTheClause:
        def keep(self, cited, passages):  # noqa: ANN001, ANN202
            return [r.chunk.chunk_id != "agreement/8/2" for r in cited]

    draft = ExtractiveAnswerer(citations=DropsTheClause()).answer(
        "平台说系统维护导致的中断不负责，对吗", [clause, brought]
    )
    assert "并不承担相应的违约责任：" in draft.text, draft.text
    assert {"agreement/8/2", "agreement/8/2/3"} <= {c.chunk_id for c in draft.citations}


class DropsAllButTheFirst:
    def keep(self, cited, passages):  # noqa: ANN001, ANN202
        return [n == 0 for n in range(len(cited))]


def test_the_agreement_clause_the_map_names_stays_in_the_key_points_whatever_the_judge_says() -> None:
    """An outage question's answer lost the agreement's outage clause (八、2③) to the citation filter, though
    the map names it as the agreement's clause on the issue and retrieval ranked it third on its own: the
    business user was told the rule and not what the platform's own terms say about outages."""
    head, item = _agreement("agreement/8/2", "agreement/8/2/3")
    rule = _tagged(RULE, 0, "outage", "服务中断/宕机的违约责任", dense_rank=1, bm25_rank=1)
    tag = IssueTag("outage", "服务中断/宕机的违约责任", "clause", keywords=("宕机", "故障"))
    ranked = Retrieved(item, 0.9, via="hybrid", dense_rank=3, issue=tag)
    brought = Retrieved(head, 0.45, via="xref")
    question = "服务宕机两天，平台要赔吗"
    draft = ExtractiveAnswerer(citations=DropsAllButTheFirst()).answer(question, [rule, ranked, brought])
    assert {"agreement/8/2", "agreement/8/2/3"} <= {c.chunk_id for c in draft.citations}, draft.text
    # only what a ranker found is kept so: the map's clause appended unranked is judged like any other
    appended = Retrieved(item, 0.0, via="issue", issue=tag)
    draft = ExtractiveAnswerer(citations=DropsAllButTheFirst()).answer(question, [rule, appended, brought])
    assert "agreement/8/2/3" not in {c.chunk_id for c in draft.citations}
    # and a rule the map names is judged too: the filter's precision rests on it
    other = replace(_tagged(RANKED, 2, "outage", "服务中断/宕机的违约责任"), via="hybrid", dense_rank=2)
    draft = ExtractiveAnswerer(citations=DropsAllButTheFirst()).answer(question, [rule, other])
    assert [c.chunk_id for c in draft.citations] == [rule.chunk.chunk_id]
    # a clause stands or falls with its issue's governing provision: under a second issue whose rule the
    # judge dropped, the map's clause goes too (an indemnity clause under a weakly matched issue)
    second = _tagged(RANKED, 3, "damages", "违约损失赔偿范围", dense_rank=2)
    its_clause = replace(ranked, issue=IssueTag("damages", "违约损失赔偿范围", "clause", keywords=("故障",)))
    draft = ExtractiveAnswerer(citations=DropsAllButTheFirst()).answer(
        question, [rule, second, its_clause, brought]
    )
    assert (
        "违约损失赔偿范围" in ExtractiveAnswerer().answer(question, [rule, second, its_clause, brought]).text
    )
    assert [c.chunk_id for c in draft.citations] == [rule.chunk.chunk_id], draft.text


def test_an_issue_left_with_commentary_alone_is_not_a_key_point() -> None:
    """The filter dropped a second issue's provision and kept the blog's advice to AI providers ("用你的AI…"),
    which then stood as the only line under that issue's heading: a point of law with no law in it."""
    rule = _tagged(RULE, 0, "outage", "服务中断/宕机的违约责任", dense_rank=1, bm25_rank=1)
    second = _tagged(RANKED, 1, "output", "AI 输出错误造成损失的责任", dense_rank=3)
    advice = (
        "比如，某电商公司用你的AI生成营销文案，结果因模型输出错误内容被处罚，造成订单流失，平台很难撇清责任。"
    )
    blog = Retrieved(
        replace(make_chunk(advice, doc_id="blog", locator="博客文章", article="", n=2), kind="blog"),
        0.8,
        via="hybrid",
        dense_rank=2,
        issue=IssueTag("output", "AI 输出错误造成损失的责任", "commentary", keywords=("输出错误",)),
    )
    question = "AI服务宕机又输出错误内容，造成订单流失，要赔吗"
    unfiltered = ExtractiveAnswerer().answer(question, [rule, second, blog])
    assert (
        "AI 输出错误造成损失的责任" in unfiltered.text and "用你的AI" in unfiltered.text
    )  # a point with its law

    class DropsTheSecondRule:
        def keep(self, cited, passages):  # noqa: ANN001, ANN202
            return [r.chunk.chunk_id != second.chunk.chunk_id for r in cited]

    draft = ExtractiveAnswerer(citations=DropsTheSecondRule()).answer(question, [rule, second, blog])
    assert "AI 输出错误造成损失的责任" not in draft.text and "用你的AI" not in draft.text, draft.text
    assert [c.chunk_id for c in draft.citations] == [rule.chunk.chunk_id]
    # with no other point and nothing the question named, a commentary-only point is kept: never an empty answer
    alone = ExtractiveAnswerer(citations=DropsTheSecondRule()).answer(question, [second, blog])
    assert "用你的AI" in alone.text


def test_one_governing_provision_per_issue_then_the_agreement_clause() -> None:
    """要点 states an issue's governing provision, then the agreement clause on it: a second rule of the
    same issue, ranked too, took the second place and left the outage clause out."""
    head, item = _agreement("agreement/8/2", "agreement/8/2/3")
    rule = _tagged(RULE, 0, "outage", "服务中断/宕机的违约责任", dense_rank=1, bm25_rank=1)
    second_rule = _tagged(RANKED, 1, "outage", "服务中断/宕机的违约责任", dense_rank=2)
    second_rule = replace(
        second_rule, issue=replace(second_rule.issue, keywords=("违约",))
    )  # it speaks to the issue
    tag = IssueTag("outage", "服务中断/宕机的违约责任", "clause", keywords=("宕机", "故障"))
    clause = Retrieved(item, 0.5, via="hybrid", dense_rank=9, issue=tag)
    draft = ExtractiveAnswerer().answer(
        "服务宕机造成违约损失要赔吗", [rule, second_rule, clause, Retrieved(head, 0.4, via="xref")]
    )
    key_points = draft.text.split("相关规定")[0]
    assert "设备与系统故障" in key_points and "第五百八十四条" not in key_points, draft.text


@pytest.mark.slow
def test_the_outage_answer_quotes_the_agreements_outage_clause(corpus_legal_index) -> None:
    """The browser's own outage question: the agreement's outage clause (八、2③) ranked tenth, was appended
    as the issue matcher's pick alone, and never reached 要点, so the answer said nothing of what the
    platform's terms say about outages."""
    from app.pipeline import build_pipeline

    answer = build_pipeline(corpus_legal_index).ask("我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？")
    key_points = answer.text.split("相关规定")[0]
    assert "服务中断/宕机" in key_points and "设备与系统故障" in key_points, answer.text
    assert {"agreement/8/2", "agreement/8/2/3"} <= {c.chunk_id for c in answer.citations}


def _answer_quoting(unit):  # noqa: ANN001, ANN202
    from app.extractive import compose

    r = Retrieved(unit.chunk, fused_score=1.0, dense_rank=1)
    return compose([(unit, r)], [r])


def test_a_sentence_broken_across_a_blank_line_is_quoted_whole() -> None:
    """The agreement as published breaks 八、3③ after "……不" and goes on "保证其生成内容的真实性……":
    quoted from the second half (the sentence the issue map names), it said 智谱 guarantees its output."""
    from app.sentences import split_units, unit_at, whole_unit

    first = "③ 平台内模型的输出不构成对您的任何建议或决策，平台及平台内模型并不真正理解您输入的内容，不"
    second = "保证其生成内容的真实性、完整性、准确性，智谱不承担由此带来的任何直接或间接的损失；"
    chunk = make_chunk(f"{first}\n\n{second}", doc_id="agreement", article="")
    units = split_units(chunk)
    assert [u.text for u in units] == [chunk.text]  # an exact slice, the blank line kept
    named = unit_at(chunk, len(first) + 2, len(chunk.text))
    assert whole_unit(named) == units[0]
    statement = next(s for s in _answer_quoting(units[0]).statements)
    assert statement.text == chunk.text  # the statement keeps the exact quote ...
    assert f"{first}{second}[1]" in _answer_quoting(units[0]).text.splitlines()  # ... shown as one line
    headed = make_chunk(
        "八、责任限制\n\n1. 智谱对您使用服务的结果不作任何保证。", doc_id="agreement", article=""
    )
    assert len(split_units(headed)) == 2  # a heading is no sentence broken off


def test_a_paragraph_a_colon_introduces_is_quoted_with_the_words_before_it_and_a_list_is_not() -> None:
    """十三、2 puts the e-mail address its "您可通过邮箱：" introduces a paragraph below; alone, that paragraph
    ("[service@…](…) 与我们联系。协商不成时……") opened an answer mid-sentence.  Items ("- …", "（一）…") after a
    colon are a list, each quoted under the words that open it."""
    from app.sentences import split_units

    before = "2. 您因使用服务所产生的争议，由平台与您协商解决。您可通过邮箱："
    after = "[service@example.cn](mailto:service@example.cn) 与我们联系。协商不成时，任何一方均可向智谱所在地法院提起诉讼。"
    chunk = make_chunk(f"{before}\n\n{after}", doc_id="agreement", article="")
    assert [u.text for u in split_units(chunk)] == [chunk.text]
    bullets = make_chunk(f"{before}\n\n- 智谱不对数据的删除或储存负责。", doc_id="agreement", article="")
    items = make_chunk(f"{before}\n\n（一）智谱不对数据的删除或储存负责。", doc_id="agreement", article="")
    assert len(split_units(bullets)) == 2 and len(split_units(items)) == 2


def test_list_head_ids() -> None:
    from ingest.parsers.agreement import list_head_id

    head, item, clause = _agreement("agreement/8/2", "agreement/8/2/3", "agreement/3/5")
    assert list_head_id(item) == "agreement/8/2"
    assert list_head_id(head) == "" and list_head_id(clause) == ""
    assert list_head_id(make_chunk(RULE)) == ""


@pytest.mark.slow
def test_retrieval_brings_the_clause_an_agreement_item_hangs_under(corpus_legal_index) -> None:
    """End to end: an answer that quotes an item of the agreement's 八、责任限制 第2条 quotes the clause's
    opening words too (HybridRetriever._list_heads brings that clause along as a cross-reference)."""
    from app.pipeline import build_pipeline

    answer = build_pipeline(corpus_legal_index).ask("平台因为系统维护中断服务，协议里说不负责，这样行吗？")
    items = [c for c in answer.citations if c.chunk_id.startswith("agreement/8/2/")]
    assert items, answer.text
    assert "agreement/8/2" in {c.chunk_id for c in answer.citations}, answer.text
    assert "并不承担相应的违约责任：" in answer.text


def test_a_clause_is_quoted_by_the_sentence_the_map_names_though_it_uses_none_of_the_issues_words() -> None:
    """ "智谱不对……引起的任何损害……承担责任" is the agreement's own disclaimer, the clause the map lists for
    the validity of disclaimers, yet it says neither 免责 nor 格式条款: found by the keyword test alone it was
    left out of the 要点, the citation filter then dropped it, and the user was told the rule without what
    the platform's terms say."""
    (disclaimer,) = _agreement("agreement/8/6")
    rule = _tagged(
        "第四百九十七条　有下列情形之一的，该格式条款无效：（二）提供格式条款一方不合理地免除或者减轻其责任、加重对方责任、限制对方主要权利；",
        0,
        "exclusion",
        "格式条款中免责/限责条款的效力",
        dense_rank=1,
    )
    tag = IssueTag(
        "exclusion", "格式条款中免责/限责条款的效力", "clause", keywords=("免责条款", "格式条款无效")
    )
    unnamed = Retrieved(disclaimer, 0.9, via="hybrid", dense_rank=2, issue=tag)
    question = "协议写了平台对输出不担任何责任，这条有效吗"

    def key_points(passages: list[Retrieved]) -> tuple[str, set[str]]:
        draft = ExtractiveAnswerer(citations=DropsAllButTheFirst()).answer(question, passages)
        return draft.text.split("**相关规定**")[0], {c.chunk_id for c in draft.citations}

    text, cited = key_points([rule, unnamed])
    assert "智谱不对" not in text and disclaimer.chunk_id not in cited
    sentence = disclaimer.text[disclaimer.text.index("智谱不对") : disclaimer.text.index("，包括但不限于")]
    text, cited = key_points([rule, replace(unnamed, issue=replace(tag, sentence=sentence))])
    assert sentence in text and disclaimer.chunk_id in cited, text


def test_a_question_not_about_an_ai_service_gets_the_issues_statutes_not_the_agreement(
    corpus_legal_index,
) -> None:
    """A shirt bought on 淘宝 matched the issue of returning digital goods and AI memberships, whose 要点 then
    quoted 智谱's "我们不会退还您为使用该服务而支付的款项" to a shopper; the same question about an AI
    platform's resource pack still hears what the platform's terms say."""
    from app.pipeline import build_pipeline
    from app.terms import about_ai_service

    assert not about_ai_service("在淘宝买了件衣服，没拆吊牌，7天内能退吗") and about_ai_service(
        "AI会员能退吗"
    )
    pipeline = build_pipeline(corpus_legal_index)
    shirt = pipeline.ask("在淘宝买了件衣服，没拆吊牌，7天内能退吗，商家说特价不退")
    assert shirt.citations[0].locator == "《消费者权益保护法》第二十五条", shirt.text
    assert not [c for c in shirt.citations if c.doc_id != "consumer-protection-law"], shirt.text
    platform = pipeline.ask("在智谱开放平台付了款买的资源包不想用了能退吗")
    assert platform.citations[0].chunk_id == "agreement/3/8/4", platform.text


def test_no_issue_states_presumed_fault_as_its_rule(corpus_legal_index) -> None:
    """Three issues listed 第一千一百六十五条 without its decisive sentence, so the answer quoted the sentence
    that best matched the question: for an AI's wrong advice, the presumption of fault (第二款), which no
    law applies to AI output.  The map now names the general rule of fault liability for each."""
    from app.pipeline import build_pipeline
    from ingest.issue_map import issue_map_path, load_issue_map

    issues = load_issue_map(issue_map_path(corpus_legal_index.corpus_dir)).issues
    for issue in issues:
        for p in issue.provisions:
            if p.article == "第一千一百六十五条" and p.role == "rule":
                assert p.sentence == "行为人因过错侵害他人民事权益造成损害的，应当承担侵权责任。", issue.id
    answer = build_pipeline(corpus_legal_index).ask(
        "AI给我生成的法律建议是错的，我按它说的做亏了两万，能找平台赔吗"
    )
    assert "推定行为人有过错" not in answer.text.split("相关规定")[0], answer.text


def test_a_list_item_is_not_quoted_for_a_single_character_it_shares(corpus_legal_index) -> None:
    """消保法第二十五条's "（四）交付的报纸、期刊。" was quoted under 相关规定 for a question about a monthly AI
    membership because both say 付; an item quoted without its article's opening words needs a word."""
    from app.pipeline import build_pipeline

    answer = build_pipeline(corpus_legal_index).ask(
        "我用的那个AI写作平台昨天崩了一整天，我会员是按月付的，能让他们退钱吗"
    )
    assert "交付的报纸" not in answer.text, answer.text
    # an item that shares a word with the question is still quoted ("（二）提供格式条款一方不合理地免除…")
    disclaimer = build_pipeline(corpus_legal_index).ask("平台用格式条款免除自己的责任，这种条款有效吗？")
    assert "（二）提供格式条款一方不合理地免除或者减轻其责任" in disclaimer.text, disclaimer.text


PREPAID = (
    "第五十三条　经营者以预收款方式提供商品或者服务的，应当按照约定提供。未按照约定提供的，应当按照消费者的要求"
    "履行约定或者退回预付款；并应当承担预付款的利息、消费者必须支付的合理费用。"
)
GIFT = "第六百六十三条　受赠人有下列情形之一的，赠与人可以撤销赠与。赠与人的撤销权，自知道或者应当知道撤销事由之日起一年内行使。"


def test_the_passage_ranked_first_opens_the_answer_though_it_shares_no_word_with_the_question() -> None:
    """A question in everyday words shares none with the provision that decides it; sentence choice by
    shared words alone opened with the gift article for 一年."""
    prepaid = Retrieved(make_chunk(PREPAID, n=0, article="第五十三条"), fused_score=1.5, dense_rank=1)
    gift = Retrieved(make_chunk(GIFT, n=1, article="第六百六十三条"), fused_score=0.5, bm25_rank=12)
    draft = ExtractiveAnswerer().answer("健身卡办了一年，老板跑路了，钱能要回来吗", [prepaid, gift])
    assert "预收款" in _first_citation(draft)
    assert draft.text.startswith("第五十三条")


def test_the_passage_ranked_first_opens_before_the_key_points() -> None:
    prepaid = Retrieved(make_chunk(PREPAID, n=0, article="第五十三条"), fused_score=1.5, dense_rank=1)
    outage = _tagged(RULE, 1, "outage", "服务中断/宕机的违约责任", dense_rank=2, bm25_rank=1)
    draft = ExtractiveAnswerer().answer("充了会员，服务不履行合同义务怎么办", [prepaid, outage])
    assert "预收款" in _first_citation(draft)
    assert draft.text.index("预收款") < draft.text.index("要点") < draft.text.index("不履行合同义务")


BLOG_OPENING = "最近不少企业都在忙着给自家的生成式AI系统做备案，尤其是《生成式人工智能服务管理暂行办法》实施以来，合规成了头等大事。"


def test_commentary_sharing_one_word_with_the_question_does_not_open_the_answer() -> None:
    blog = Retrieved(
        replace(make_chunk(BLOG_OPENING, doc_id="blog", n=0, article=""), kind="blog", locator="博客文章"),
        fused_score=1.5,
        dense_rank=1,
    )
    outage = _tagged(RULE, 1, "outage", "服务中断/宕机的违约责任", dense_rank=2, bm25_rank=1)
    draft = ExtractiveAnswerer().answer("我们公司接入的大模型服务宕机两天，能索赔吗", [blog, outage])
    assert "不履行合同义务" in _first_citation(draft)
    assert "做备案" not in draft.text.split("要点")[0]


JOINT_DEBT = "第一千零六十四条　夫妻双方共同签名或者夫妻一方事后追认等共同意思表示所负的债务，属于夫妻共同债务。"


def test_a_provision_ranked_second_by_meaning_is_quoted_without_a_shared_word() -> None:
    prepaid = Retrieved(make_chunk(PREPAID, n=0, article="第五十三条"), fused_score=1.5, dense_rank=1)
    debt = Retrieved(make_chunk(JOINT_DEBT, n=1, article="第一千零六十四条"), fused_score=1.0, dense_rank=2)
    far = Retrieved(make_chunk(GIFT, n=2, article="第六百六十三条"), fused_score=0.9, dense_rank=40)
    question = "老婆背着我借的钱，要我一起还吗"
    draft = ExtractiveAnswerer().answer(question, [prepaid, debt, far])
    assert [c.quote[:5] for c in draft.citations] == ["第五十三条", "第一千零六"]
    without = ExtractiveAnswerer(wordless=0).answer(question, [prepaid, debt, far])
    assert [c.quote[:5] for c in without.citations] == ["第五十三条"]


def test_commentary_sharing_only_the_words_for_ai_does_not_open_the_answer() -> None:
    """The paper and the blog speak of AI and generated content throughout: sharing AI and 生成 with a
    question about buggy generated code is no sign the blog's opening line answers it."""
    blog = Retrieved(
        replace(make_chunk(BLOG_OPENING, doc_id="blog", n=0, article=""), kind="blog", locator="博客文章"),
        fused_score=1.5,
        dense_rank=1,
    )
    outage = _tagged(RULE, 1, "outage", "服务中断/宕机的违约责任", dense_rank=2, bm25_rank=1)
    question = "AI生成的代码有漏洞，服务不履行合同义务，能找厂商赔吗"
    draft = ExtractiveAnswerer().answer(question, [blog, outage])
    assert "做备案" not in draft.text.split("要点")[0] and "不履行合同义务" in _first_citation(draft)
    # two words of the question's own matter are enough: 备案 and 合规
    led = ExtractiveAnswerer().answer("AI系统做备案了，合规上还要注意什么", [blog, outage])
    assert led.text.startswith("最近不少企业"), led.text[:80]
