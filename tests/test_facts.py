"""The changed-fact check (app/facts.py) per fact kind, through the LLM grounding check and on its own.

Passages are verbatim corpus text (statutes, the agreement, the paper) with the source label the
answerer passes (document title and locator).  Every unfaithful statement changes one fact; every
faithful one must pass the whole grounding check, not just the fact check.
"""

from __future__ import annotations

import pytest

from app.answer import Citation
from app.fact_extract import extract, negated_at
from app.facts import FactProblem, Passage, as_passage, changed_facts
from app.grounding import check_sentence, ground
from app.llm import LLMAnswerer
from tests.chunks import make_chunk, passages
from tests.fakes import ScriptedChatModel

CIVIL = "中华人民共和国民法典 《民法典》"
CONSUMER = "中华人民共和国消费者权益保护法 《消费者权益保护法》"
A1202 = Passage("第一千二百零二条\u3000因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。", CIVIL + "第一千二百零二条")
A1203 = Passage(
    "第一千二百零三条\u3000因产品存在缺陷造成他人损害的，被侵权人可以向产品的生产者请求赔偿，也可以向产品的销售者请求赔偿。\n\n"
    "产品缺陷由生产者造成的，销售者赔偿后，有权向生产者追偿。因销售者的过错使产品存在缺陷的，生产者赔偿后，有权向销售者追偿。",
    CIVIL + "第一千二百零三条",
)
A1165 = Passage(
    "第一千一百六十五条\u3000行为人因过错侵害他人民事权益造成损害的，应当承担侵权责任。\n\n"
    "依照法律规定推定行为人有过错，其不能证明自己没有过错的，应当承担侵权责任。",
    CIVIL + "第一千一百六十五条",
)
A188 = Passage(
    "第一百八十八条\u3000向人民法院请求保护民事权利的诉讼时效期间为三年。法律另有规定的，依照其规定。\n\n"
    "诉讼时效期间自权利人知道或者应当知道权利受到损害以及义务人之日起计算。法律另有规定的，依照其规定。但是，自权利受到损害之日起超过二十年的，"
    "人民法院不予保护，有特殊情况的，人民法院可以根据权利人的申请决定延长。",
    CIVIL + "第一百八十八条",
)
C25 = Passage(
    "第二十五条\u3000经营者采用网络、电视、电话、邮购等方式销售商品，消费者有权自收到商品之日起七日内退货，且无需说明理由，但下列商品除外：\n\n"
    "（一）消费者定作的；\n\n（二）鲜活易腐的；\n\n（三）在线下载或者消费者拆封的音像制品、计算机软件等数字化商品；\n\n（四）交付的报纸、期刊。\n\n"
    "除前款所列商品外，其他根据商品性质并经消费者在购买时确认不宜退货的商品，不适用无理由退货。\n\n"
    "消费者退货的商品应当完好。经营者应当自收到退回商品之日起七日内返还消费者支付的商品价款。退回商品的运费由消费者承担；经营者和消费者另有约定的，按照约定。",
    CONSUMER + "第二十五条",
)
C55 = Passage(
    "第五十五条\u3000经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的三倍；"
    "增加赔偿的金额不足五百元的，为五百元。法律另有规定的，依照其规定。\n\n"
    "经营者明知商品或者服务存在缺陷，仍然向消费者提供，造成消费者或者其他受害人死亡或者健康严重损害的，受害人有权要求经营者依照本法第四十九条、"
    "第五十一条等法律规定赔偿损失，并有权要求所受损失二倍以下的惩罚性赔偿。",
    CONSUMER + "第五十五条",
)
PIPL = "中华人民共和国个人信息保护法 《个人信息保护法》"
P55 = Passage(
    "第五十五条\u3000有下列情形之一的，个人信息处理者应当事前进行个人信息保护影响评估，并对处理情况进行记录：\n\n（一）处理敏感个人信息；\n\n"
    "（二）利用个人信息进行自动化决策；\n\n（三）委托处理个人信息、向其他个人信息处理者提供个人信息、公开个人信息；\n\n（四）向境外提供个人信息；\n\n"
    "（五）其他对个人权益有重大影响的个人信息处理活动。",
    PIPL + "第五十五条",
)
P66 = Passage(
    "第六十六条\u3000违反本法规定处理个人信息，或者处理个人信息未履行本法规定的个人信息保护义务的，由履行个人信息保护职责的部门责令改正，给予警告，没收违法所得，"
    "对违法处理个人信息的应用程序，责令暂停或者终止提供服务；拒不改正的，并处一百万元以下罚款；对直接负责的主管人员和其他直接责任人员处一万元以上十万元以下罚款。\n\n"
    "有前款规定的违法行为，情节严重的，由省级以上履行个人信息保护职责的部门责令改正，没收违法所得，并处五千万元以下或者上一年度营业额百分之五以下罚款，"
    "并可以责令暂停相关业务或者停业整顿、通报有关主管部门吊销相关业务许可或者吊销营业执照；对直接负责的主管人员和其他直接责任人员处十万元以上一百万元以下罚款，"
    "并可以决定禁止其在一定期限内担任相关企业的董事、监事、高级管理人员和个人信息保护负责人。",
    PIPL + "第六十六条",
)
GENAI9 = Passage(
    "第九条\u3000提供者应当依法承担网络信息内容生产者责任，履行网络信息安全义务。涉及个人信息的，依法承担个人信息处理者责任，履行个人信息保护义务。\n\n"
    "提供者应当与注册其服务的生成式人工智能服务使用者（以下称使用者）签订服务协议，明确双方权利义务。",
    "生成式人工智能服务管理暂行办法 《生成式人工智能服务管理暂行办法》第九条",
)
ECOM38 = Passage(
    "第三十八条\u3000电子商务平台经营者知道或者应当知道平台内经营者销售的商品或者提供的服务不符合保障人身、财产安全的要求，或者有其他侵害消费者合法权益行为，"
    "未采取必要措施的，依法与该平台内经营者承担连带责任。\n\n"
    "对关系消费者生命健康的商品或者服务，电子商务平台经营者对平台内经营者的资质资格未尽到审核义务，或者对消费者未尽到安全保障义务，造成消费者损害的，依法承担相应的责任。",
    "中华人民共和国电子商务法 《电子商务法》第三十八条",
)
COPY49 = Passage(
    "第四十九条\u3000为保护著作权和与著作权有关的权利，权利人可以采取技术措施。\n\n"
    "未经权利人许可，任何组织或者个人不得故意避开或者破坏技术措施，不得以避开或者破坏技术措施为目的制造、进口或者向公众提供有关装置或者部件，"
    "不得故意为他人避开或者破坏技术措施提供技术服务。但是，法律、行政法规规定可以避开的情形除外。",
    "中华人民共和国著作权法 《著作权法》第四十九条",
)
AGREEMENT = Passage(
    "2. 大模型开放平台依照法律规定履行基础保障义务，但对于下述原因导致的合同履行障碍、履行瑕疵、履行延后或履行内容变更等情形，大模型开放平台并不承担相应的违约责任：",
    "大模型开放平台用户协议（智谱） 《用户协议》八、责任限制 第2条",
)
PAPER = Passage(
    "《民法典》第 1202 条规定：因产品存在缺陷造成他人损害的，生产者应当承担赔偿责任。由此，生成式人工智能的产品责任适用应当解决两个问题，"
    "一是有关“生产者”的认定，二是有关“产品缺陷”的判断。",
    "生成式人工智能的产品责任适用（学术论文） 论文 4 生成式人工智能产品责任归责路径",
)


def support(statement: str, *cited: Passage) -> str:
    """What the LLM answerer's grounding check makes of ``statement`` citing ``cited`` as [1], [2] …"""
    markers = "".join(f"[{n}]" for n in range(1, len(cited) + 1))
    return check_sentence(statement + markers, list(cited))[0]


def kinds(statement: str, *cited: Passage) -> set[str]:
    return {p.kind for p in changed_facts(statement, cited)}


# --- the two examples of the issue -----------------------------------------------------------------


def test_ten_times_against_three_times_is_removed():
    statement = "经营者提供商品或者服务有欺诈行为的，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的十倍。"
    assert support(statement, C55) == "unsupported"
    problems = changed_facts(statement, [C55])
    assert any(p.kind == "number" and p.fact == "十倍" and "三倍" in p.detail for p in problems)


def test_seller_against_producer_is_removed():
    statement = "因产品存在缺陷造成他人损害的，销售者应当承担侵权责任。"
    assert support(statement, A1202) == "unsupported"
    assert any(p.kind == "role" and p.fact == "销售者" for p in changed_facts(statement, [A1202]))


def test_llm_answerer_removes_both_examples_and_keeps_the_faithful_sentence():
    cited = passages(A1202.text, C55.text)
    reply = (
        "因产品存在缺陷造成他人损害的，销售者应当承担侵权责任。[1]\n"
        "经营者提供商品或者服务有欺诈行为的，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的十倍。[2]\n"
        "经营者欺诈的，增加赔偿的金额为价款的3倍。[2]"
    )
    draft = LLMAnswerer(ScriptedChatModel([reply])).answer("问题", cited)
    assert draft.unsupported_removed == 2
    assert draft.text == "经营者欺诈的，增加赔偿的金额为价款的3倍。[1]"
    marked = LLMAnswerer(ScriptedChatModel([reply]), mark_unsupported=True).answer("问题", cited)
    assert marked.text.count("〔未能在引文中核实〕") == 2


# --- numbers, multipliers, amounts, percentages, time limits ---------------------------------------


@pytest.mark.parametrize(
    "statement, passage",
    [
        ("增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的二倍。", C55),  # 二倍 is in the passage, not here
        ("增加赔偿的金额不足一千元的，为一千元。", C55),
        ("受害人有权要求所受损失二倍以上的惩罚性赔偿。", C55),  # 以下 → 以上
        ("向人民法院请求保护民事权利的诉讼时效期间为两年。", A188),
        ("自权利受到损害之日起超过10年的，人民法院不予保护。", A188),
        ("消费者有权自收到商品之日起十五日内退货，且无需说明理由。", C25),
        ("情节严重的，并处五千万元以下或者上一年度营业额百分之十以下罚款。", P66),
        ("对直接负责的主管人员和其他直接责任人员处五万元以上十万元以下罚款。", P66),  # 一万元 in the first 款
    ],
)
def test_a_changed_number_is_caught(statement, passage):
    assert support(statement, passage) == "unsupported"
    assert "number" in kinds(statement, passage)


def test_numbers_are_normalised():
    facts = extract("三倍 3倍 五百元 500元 十五日 15天 三个月 3个月 百分之五 5% 五十万元 50万元 二〇二一年 2021年")
    values = [(n.value, n.unit) for n in facts.numbers]
    assert values == [(3, "倍")] * 2 + [(500, "元")] * 2 + [(15, "日")] * 2 + [(3, "月")] * 2 + [(5, "%")] * 2 + [
        (500000, "元")
    ] * 2 + [(2021, "年")] * 2


def test_limits_and_ranges_are_read():
    bounds = [(n.value, n.bound) for n in extract("二倍以下，不足五百元，十五日内，满十八周岁，不满两周岁，三十年至五十年").numbers]
    assert bounds == [(2, "upper"), (500, "upper"), (15, "upper"), (18, "lower"), (2, "upper"), (30, "lower"), (50, "upper")]


def test_ordinals_and_articles_are_not_numbers():
    assert extract("第三人依照本法第四十九条承担责任，有下列情形之一的，上一年度营业额").numbers == ()


# --- party / role ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement, passage",
    [
        ("生产者可以向被侵权人请求赔偿。", A1203),  # both roles are in the passage, swapped
        ("消费者有权要求经营者依照本法第四十九条、第五十一条等法律规定赔偿损失。", C55),  # 受害人 there
        ("网络服务提供者应当依法承担网络信息内容生产者责任。", GENAI9),  # narrower than the passage's 提供者
        ("用户对下述原因导致的合同履行障碍并不承担相应的违约责任。", AGREEMENT),
        ("电子商务平台经营者未采取必要措施的，依法与该消费者承担连带责任。", ECOM38),
    ],
)
def test_a_changed_party_is_caught(statement, passage):
    assert support(statement, passage) == "unsupported"
    assert "role" in kinds(statement, passage)


def test_role_synonyms_and_generalisations_are_not_changes():
    assert kinds("商家提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失。", C55) == set()
    assert kinds("受害人可以向产品的销售者请求赔偿。", A1203) == set()  # 受害人 ≈ 被侵权人
    assert kinds("智谱对下述原因导致的合同履行障碍并不承担相应的违约责任。", AGREEMENT) == set()  # 智谱 ≈ 大模型开放平台
    assert kinds("平台未采取必要措施的，依法与该平台内经营者承担连带责任。", ECOM38) == set()  # 平台 ⊇ 电子商务平台经营者
    assert [r for r, _ in extract("消费者权益保护法、用户协议和个人信息").roles] == []


# --- modality --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement, passage",
    [
        ("因产品存在缺陷造成他人损害的，生产者可以承担侵权责任。", A1202),
        ("被侵权人应当向产品的生产者请求赔偿。", A1203),
        ("受害人无权要求所受损失二倍以下的惩罚性赔偿。", C55),
        ("未经权利人许可，任何组织或者个人可以故意避开或者破坏技术措施。", COPY49),
        ("并可以决定允许其在一定期限内担任相关企业的董事、监事、高级管理人员。", P66),  # 禁止 → 允许 next to a 可以
        ("生产者无须承担侵权责任。", A1202),
    ],
)
def test_a_changed_modality_is_caught(statement, passage):
    assert support(statement, passage) == "unsupported"
    assert "modality" in kinds(statement, passage)


def test_modality_synonyms_are_not_changes():
    assert kinds("因产品存在缺陷造成他人损害的，生产者必须承担侵权责任。", A1202) == set()
    assert kinds("被侵权人有权向产品的销售者请求赔偿。", A1203) == set()
    assert [c for c, _ in extract("相应的许可，可跟踪，所有权，须知").modalities] == []


# --- negation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement, passage",
    [
        ("因产品存在缺陷造成他人损害的，生产者不承担侵权责任。", A1202),
        ("大模型开放平台对于下述原因导致的合同履行障碍承担相应的违约责任。", AGREEMENT),
        ("依照法律规定推定行为人有过错，其能证明自己没有过错的，应当承担侵权责任。", A1165),
        ("经权利人许可，任何组织或者个人不得故意避开或者破坏技术措施。", COPY49),
        ("经营者明知商品或者服务不存在缺陷，仍然向消费者提供的，受害人有权要求所受损失二倍以下的惩罚性赔偿。", C55),
    ],
)
def test_a_flipped_negation_is_caught(statement, passage):
    assert support(statement, passage) == "unsupported"
    assert kinds(statement, passage) & {"negation", "modality"}


def test_a_negator_before_an_enumeration_negates_every_item():
    text = "不得制作、使用、公开肖像权人的肖像"
    assert all(negated_at(text, text.index(w), length=2) for w in ("制作", "使用", "公开"))
    assert not negated_at("不动产物权的设立、变更", len("不动产物权的设立、"), length=2)
    assert not negated_at("无论是否同意", 4, length=2)  # 无论 is not a negation


# --- article and clause numbers --------------------------------------------------------------------


def test_an_article_must_be_the_cited_one_or_one_it_refers_to_there():
    assert support("根据《民法典》第1203条，生产者应当承担侵权责任。", A1202) == "unsupported"
    assert kinds("根据第四十九条，经营者有欺诈行为的，应当增加赔偿其受到的损失。", C55) == {"article"}  # a cross-reference, elsewhere
    assert kinds("受害人有权要求经营者依照本法第四十九条、第五十一条等规定赔偿损失。", C55) == set()
    assert kinds("《民法典》第1202条规定，生产者应当承担侵权责任。", A1202) == set()  # 1202 == 一千二百零二


@pytest.mark.parametrize(
    "statement, passage",
    [
        ("《民法典》第一千二百零三条第三款规定，生产者赔偿后有权向销售者追偿。", A1203),  # two 款
        ("《个人信息保护法》第五十五条第（四）项规定的是利用个人信息进行自动化决策。", P55),  # it is （二）
        ("《个人信息保护法》第五十五条第（六）项规定的是利用个人信息进行自动化决策。", P55),  # five items
    ],
)
def test_a_wrong_clause_number_is_caught(statement, passage):
    assert support(statement, passage) == "unsupported"
    assert "clause" in kinds(statement, passage)


# --- which law -------------------------------------------------------------------------------------


def test_the_law_named_must_be_the_cited_passages():
    assert kinds("根据《消费者权益保护法》第一千二百零二条，生产者应当承担侵权责任。", A1202) == {"law"}
    assert "law" in kinds("《民法典》规定，经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失。", C55)
    assert kinds("根据《民法典》第一千二百零二条，生产者应当承担侵权责任。", A1202) == set()
    assert kinds("《民法典》第1202条规定，生产者应当承担赔偿责任。", PAPER) == set()  # named in the paper's text


def test_a_law_cannot_be_confirmed_without_the_passages_source():
    bare = Passage(A1202.text)  # a plain string: which law it belongs to is unknown
    assert kinds("根据《民法典》第一千二百零二条，生产者应当承担侵权责任。", bare) == {"law"}


def test_answerer_passages_carry_their_source():
    chunk = make_chunk(A1202.text)
    citation = Citation.from_chunk(1, chunk, 1.0)
    for obj in (chunk, citation, passages(A1202.text)[0]):
        assert as_passage(obj) == Passage(A1202.text, "中华人民共和国民法典 《民法典》第一千二百零二条")
    assert changed_facts("根据《民法典》第一千二百零二条，生产者应当承担侵权责任。", [citation]) == ()
    assert isinstance(changed_facts("销售者应当承担侵权责任。[1]", [citation])[0], FactProblem)


# --- faithful paraphrases pass the whole grounding check -------------------------------------------

FAITHFUL = [
    ("经营者欺诈的，增加赔偿的金额为价款的3倍，不足500元的为500元。", (C55,)),  # shortened, Arabic numerals
    ("受害人有权要求商家赔偿损失，并有权要求所受损失二倍以下的惩罚性赔偿。", (C55,)),  # synonym
    ("生产者应当对产品缺陷造成的他人损害承担侵权责任。", (A1202,)),  # restructured
    ("被侵权人可以请求生产者赔偿，也可以请求销售者赔偿。", (A1203,)),
    ("生产者赔偿后，有权向销售者追偿，如果是因销售者的过错使产品存在缺陷。", (A1203,)),  # clauses reordered
    ("诉讼时效期间为3年，自权利人知道或者应当知道权利受到损害以及义务人之日起计算。", (A188,)),  # two 款 combined
    ("因产品缺陷造成损害的，生产者应当承担侵权责任，被侵权人也可以向产品的销售者请求赔偿。", (A1202, A1203)),  # two passages
    ("消费者有权自收到商品之日起7天内退货，且无需说明理由。", (C25,)),
    ("情节严重的，可以并处五千万元以下或者上一年度营业额5%以下罚款。", (P66,)),
    ("智谱对下述原因导致的合同履行障碍并不承担相应的违约责任。", (AGREEMENT,)),
    ("根据《民法典》第一千二百零二条，生产者必须承担侵权责任。", (A1202,)),  # named source, synonym
    ("《个人信息保护法》第五十五条第（二）项规定的是利用个人信息进行自动化决策。", (P55,)),
    ("电子商务平台经营者未采取必要措施的，依法与该平台内经营者承担连带责任。", (ECOM38,)),  # shortened
    ("《民法典》第一千二百零三条第二款规定，生产者赔偿后有权向销售者追偿。", (A1203,)),
    ("任何组织或者个人未经权利人许可，不得故意避开、破坏技术措施。", (COPY49,)),
]


@pytest.mark.parametrize("statement, cited", FAITHFUL)
def test_faithful_paraphrase_passes(statement, cited):
    assert changed_facts(statement, cited) == ()
    assert support(statement, *cited) in ("verified", "quote")


def test_ground_counts_a_changed_fact_like_any_other_failure():
    result = ground("生产者应当承担侵权责任。[1] 生产者可以承担侵权责任。[1]", [A1202])
    assert [s.support for s in result.statements] == ["quote", "unsupported"]
    assert result.unsupported == 1
