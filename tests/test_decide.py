"""Declining precisely: articles that do not exist, tasks we do not do, and notes the verifier re-derives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.abstain import DRAFTING_TEXT, MISSING_ARTICLE_TEXT, TASK_TEXT, task_kind
from app.notes import DRAFTING_NOTE, missing_article_note
from app.pipeline import build_pipeline
from app.verify import check_answer
from ingest.issue_map import issue_map_path, load_issue_map
from ingest.settings import Settings

GENAI = "《生成式人工智能服务管理暂行办法》"


@pytest.fixture(scope="module")
def pipeline(corpus_hash_index: Settings):
    return build_pipeline(corpus_hash_index)


@pytest.mark.parametrize(
    "question",
    [
        "生成式人工智能服务管理暂行办法第三十条",
        "生成式人工智能服务管理暂行办法第30条怎么规定的？",
        "生成式人工智能服务管理暂行办法第３０条",  # full-width digits
        "生成式人工智能服务管理暂行办法第3\u200b0条",  # a zero-width space inside the number
    ],
)
def test_an_article_that_does_not_exist_is_named_and_never_replaced(pipeline, question: str) -> None:
    answer = pipeline.ask(question)
    assert answer.abstained and not answer.citations
    assert answer.text == MISSING_ARTICLE_TEXT
    assert answer.notes == (f"{GENAI}共二十四条，没有第三十条。",)
    assert "仅供参考" in answer.warning


def test_an_existing_article_is_still_looked_up(pipeline) -> None:
    answer = pipeline.ask("生成式人工智能服务管理暂行办法第二十四条")
    assert not answer.abstained and answer.citations[0].locator.endswith("第二十四条") and not answer.notes


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("帮我写一份离婚协议书", "draft"),
        ("用大模型帮我起草一份用户协议", "draft"),
        ("这个案子法院会怎么判？", "predict"),
        ("和模型厂商打这个官司胜算大吗", "predict"),
        ("你觉得我起诉AI公司能赢吗？", "predict"),
        ("法院会怎么判断免责条款有没有效", ""),  # 判断: what the law says, not a forecast
        ("AI审核系统会不会判断错误，误删了商品链接，平台要担责吗", ""),
        ("平台的免责条款有效吗", ""),
        ("我们的协议里写了不承担责任，有效吗", ""),
        # the document is asked about, not asked for: 写作 / 写了 / 拟将 / 出租 are no request to draft
        ("我们公司用的AI写作平台在用户协议里写了“生成内容错误的损失由用户承担”，这条有效吗？", ""),
        ("出租人没有催告就直接发函解除合同，这样有效吗", ""),
        ("我方拟将服务合同的权利义务一并转让给关联公司，要满足什么条件", ""),
        ("人在外地，能不能写个委托书让家里人代我去办过户", ""),
        ("我们签了合同，对方答应给我出一份检测报告，一直没给，算违约吗？", ""),
        ("拟定合同时约定服务商不承担任何责任，这种条款有效吗？", ""),
        ("我让AI帮我写一份合同，结果漏了违约条款，AI公司要负责吗", ""),  # asked of another
        ("出一份声明说我们不对AI生成内容负责，这样有效吗？", ""),  # whether a text holds
        ("用户协议里免责那条到底有没有用，帮忙出个主意", ""),
        ("麻烦看下我们起草的用户协议里写AI内容不负责，这样有效吗", ""),
        ("合伙开个工作室，合伙协议帮我写一个", "draft"),
        ("帮我拟一份给AI平台的索赔函，大模型服务宕机两天了", "draft"),
        ("起草一份保密协议", "draft"),
    ],
)
def test_task_kinds(question: str, kind: str) -> None:
    assert task_kind(question) == kind


def test_a_drafting_request_is_not_drafted(pipeline) -> None:
    answer = pipeline.ask("帮我写一份大模型服务合同，要写清楚服务中断的违约责任")
    if answer.abstained:
        assert answer.text == DRAFTING_TEXT
    else:
        assert answer.notes[0] == DRAFTING_NOTE and answer.citations


def test_answerable_training_questions_are_not_taken_for_drafting_requests() -> None:
    """Thousands of written questions ask about contracts, agreements and letters; the only ones read as
    a request to draft are those that say 起草 (where "供起草时参考" is apt), never 写了 / 出租 / 拟将."""
    from evals.train.data import depth_files, load_questions, story_files, training_files

    questions = [q.question for q in load_questions([*training_files(), *story_files(), *depth_files()])]
    assert len(questions) > 5000
    flagged = [q for q in questions if task_kind(q) == "draft"]
    assert all("起草" in q for q in flagged), flagged


def test_a_question_about_what_an_agreement_says_gets_no_drafting_note(pipeline) -> None:
    answer = pipeline.ask(
        "我们公司用的AI写作平台在用户协议里写了“生成内容错误的损失由用户承担”，这条有效吗？"
    )
    assert not answer.abstained and DRAFTING_NOTE not in answer.notes and answer.citations


def test_a_drafting_request_is_judged_by_its_matter(corpus_legal_index: Settings) -> None:
    """起草 and 一份 are in no provision: judged with them (and by the shipped model), a lease was
    declined as having no basis."""
    answer = build_pipeline(corpus_legal_index).ask("帮我起草一份租房合同")
    assert not answer.abstained and answer.notes[0] == DRAFTING_NOTE
    assert any("租赁" in c.breadcrumb for c in answer.citations)


def test_a_ruling_prediction_is_declined_with_the_reason(pipeline) -> None:
    answer = pipeline.ask("我们起诉大模型平台服务中断的违约责任，法院会怎么判？")
    assert answer.abstained and answer.text == TASK_TEXT and not answer.citations


def test_the_verifier_rederives_notes_from_the_corpus(pipeline, corpus_hash_index: Settings) -> None:
    corpus = Path(corpus_hash_index.corpus_dir)
    answer = pipeline.ask("生成式人工智能服务管理暂行办法第三十条")
    assert check_answer(answer, corpus).ok
    wrong_count = replace(answer, notes=(missing_article_note(GENAI, 30, 31),))
    assert not check_answer(wrong_count, corpus).ok
    exists = replace(answer, notes=(missing_article_note(GENAI, 24, 7),))
    assert not check_answer(exists, corpus).ok
    invented = replace(answer, notes=("根据法律规定，平台不承担任何责任。",))
    assert not check_answer(invented, corpus).ok


def test_the_verifier_accepts_issue_headings_only_from_the_issue_map(
    pipeline, corpus_hash_index: Settings
) -> None:
    corpus = Path(corpus_hash_index.corpus_dir)
    answer = pipeline.ask("民法典第五百七十七条")
    assert not answer.abstained
    name = load_issue_map(issue_map_path(corpus)).issues[0].name
    quoted = f"- {answer.statements[0].text}[1]"
    laid_out = replace(answer, text=f"**要点**\n\n**争点：{name}**\n\n{quoted}\n\n**相关规定**")
    assert check_answer(laid_out, corpus).ok
    claimed = replace(answer, text=f"**要点**\n\n**争点：平台无需承担任何责任**\n\n{quoted}")
    findings = check_answer(claimed, corpus).findings
    assert any("不是争点清单" in f.problem for f in findings)


def test_a_drafting_request_without_a_matter_is_declined_with_the_reason(pipeline) -> None:
    from app.abstain import drafting_matter

    assert drafting_matter("帮我写一份离婚协议书") == "离婚" and drafting_matter("帮我写一份律师函") == ""
    answer = pipeline.ask("帮我写一份律师函")
    assert answer.abstained and answer.text == DRAFTING_TEXT and not answer.citations


@pytest.mark.parametrize(
    ("question", "outside"),
    [
        ("邻居家的狗把我咬伤了，医药费谁出", True),
        ("有人把我的照片换脸做成视频四处传", False),  # 换脸 is what an AI harm is called
        ("文心一言编造了我的负面新闻，我能告吗", False),
    ],
)
def test_the_outside_focus_note_knows_what_ai_harms_and_products_are_called(
    question: str, outside: bool
) -> None:
    from app.answer import Retrieved
    from app.decide import outside_focus
    from app.question import Question
    from tests.chunks import make_chunk

    civil = [
        Retrieved(
            make_chunk("第一千一百六十五条　行为人因过错侵害他人民事权益造成损害的，应当承担侵权责任。", n=0),
            1.0,
        )
    ]
    assert outside_focus(Question(question, question), civil) is outside


def test_a_statute_the_corpus_does_not_hold_is_named_and_never_replaced(pipeline) -> None:
    answer = pipeline.ask("劳动合同法第三十九条是什么")
    assert answer.abstained and not answer.citations and answer.text == MISSING_ARTICLE_TEXT
    assert answer.notes == ("资料库不含《劳动合同法》，本工具不能引用或解释它的条文。",)
    assert "仅供参考" in answer.warning


def test_a_code_the_civil_code_repealed_is_named_as_repealed(pipeline, corpus_hash_index: Settings) -> None:
    repealed = "《合同法》已于2021年1月1日《民法典》施行时废止（《民法典》第一千二百六十条）。"
    answer = pipeline.ask("合同法第52条规定了什么")
    assert answer.abstained and not answer.citations and answer.notes == (repealed,)
    # with a matter of its own, the question is answered from the corpus, the note kept
    matter = pipeline.ask("婚姻法规定离婚时夫妻共同财产怎么分割？")
    assert matter.notes[0] == repealed.replace("合同法", "婚姻法")
    corpus = Path(corpus_hash_index.corpus_dir)
    assert check_answer(answer, corpus).ok and check_answer(matter, corpus).ok
    # the verifier re-derives these notes too: 劳动法 was not repealed, 消保法 is in the corpus
    not_repealed = replace(answer, notes=(repealed.replace("合同法", "劳动法"),))
    assert not check_answer(not_repealed, corpus).ok
    ours = replace(answer, notes=("资料库不含《消费者权益保护法》，本工具不能引用或解释它的条文。",))
    assert not check_answer(ours, corpus).ok


def test_a_whole_section_of_the_agreement_is_quoted_clause_by_clause(pipeline) -> None:
    answer = pipeline.ask("用户协议第八条")
    section = [c.chunk_id for c in answer.citations if c.chunk_id.startswith("agreement/8/")]
    assert section[:3] == ["agreement/8/1", "agreement/8/2", "agreement/8/3"]
    assert answer.citations[0].chunk_id == "agreement/8/1" and len(section) >= 6


def test_a_bare_lookup_quotes_what_it_names_and_nothing_the_number_happened_to_match(pipeline) -> None:
    answer = pipeline.ask("民法典第五百八十四条是什么")
    assert answer.citations[0].locator == "《民法典》第五百八十四条"
    # only the article and what it cites: the rankers' passages for "第五百八十四条" are not quoted
    assert {c.chunk_id for c in answer.citations} <= {"civil-code/584"} | {
        r.chunk_id for r in answer.retrieved if r.via == "xref"
    }
    assert answer.issues == ()
    # a question with a matter of its own still gets the rankers' passages beside the named article
    matter = pipeline.ask("民法典第五百八十四条说的可得利益，AI服务宕机造成的订单损失算不算？")
    assert len({c.chunk_id for c in matter.citations}) > 1


@pytest.mark.parametrize(
    ("question", "note"),
    [
        ("用户协议第十四条", "《用户协议》共十三部分，没有第十四部分。"),
        ("服务协议第二十条是什么", "《用户协议》共十三部分，没有第二十部分。"),
        ("用户协议第三部分第二十五条", "《用户协议》第三部分没有第25条。"),
    ],
)
def test_a_part_of_the_agreement_that_does_not_exist_is_named_and_never_replaced(
    pipeline, corpus_hash_index: Settings, question: str, note: str
) -> None:
    answer = pipeline.ask(question)
    assert answer.abstained and not answer.citations and answer.notes == (note,)
    corpus = Path(corpus_hash_index.corpus_dir)
    assert check_answer(answer, corpus).ok
    exists = replace(answer, notes=("《用户协议》共十三部分，没有第八部分。",))
    assert not check_answer(exists, corpus).ok
    miscounted = replace(answer, notes=("《用户协议》共十二部分，没有第十四部分。",))
    assert not check_answer(miscounted, corpus).ok


def test_a_named_clause_of_the_agreement_comes_with_its_items(pipeline) -> None:
    answer = pipeline.ask("用户协议第五部分第2条")
    ids = [c.chunk_id for c in answer.citations]
    assert ids[0] == "agreement/5/2" and "agreement/5/2/1" in ids and "agreement/5/2/7" in ids
    # 第八条第三款 is how people write 八、3
    assert pipeline.ask("用户协议第八条第三款是什么？").citations[0].chunk_id == "agreement/8/3"


def test_a_question_that_only_names_an_article_gets_every_paragraph(pipeline) -> None:
    answer = pipeline.ask("民法典第1195条内容")
    assert [c.locator for c in answer.citations] == ["《民法典》第一千一百九十五条"]
    # the second paragraph decides the notice-and-takedown question: joint liability for the added harm
    assert "对损害的扩大部分与该网络用户承担连带责任" in answer.text


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("这50万合理吗，法院一般会判多少？", "predict"),
        ("你觉得法院会判赔多少钱？", "predict"),
        ("法院判赔多少看啥？", ""),  # what the sum depends on is a legal question
    ],
)
def test_the_sum_a_court_would_award_is_a_prediction(question: str, kind: str) -> None:
    assert task_kind(question) == kind


def test_an_agreement_section_is_headed_by_its_whole_name(pipeline) -> None:
    # "九、第三方产品及服务": the section's name holds a 第, which is not where its clause number starts
    assert pipeline.ask("用户协议第九条").text.startswith("**《用户协议》九、第三方产品及服务**")


@pytest.mark.parametrize(
    "question", ["合同第十二条", "协议第二十条", "高等教育法第二十条怎么规定的", "产品质量法实施细则第五条"]
)
def test_a_number_of_a_document_we_do_not_hold_is_never_answered_with_ours(pipeline, question: str) -> None:
    answer = pipeline.ask(question)
    assert answer.abstained and not answer.citations and answer.text == MISSING_ARTICLE_TEXT


def test_the_number_of_another_document_does_not_steer_the_rankers(pipeline) -> None:
    answer = pipeline.ask("我们跟供应商的合同第十二条写了逾期罚款，合法吗")
    assert all(not c.locator.endswith("第十二条") for c in answer.citations)


def test_a_question_comparing_ours_with_a_repealed_code_is_answered_with_the_note(pipeline) -> None:
    answer = pipeline.ask("民法典和合同法有什么区别？")
    # not declined as naming nothing we hold (the hash embedder's rule may still find no basis)
    assert answer.notes[0].startswith("《合同法》已于2021年1月1日") and answer.text != MISSING_ARTICLE_TEXT


def test_an_article_number_without_its_law_says_which_law_it_was_read_in(
    pipeline, corpus_hash_index: Settings
) -> None:
    from app.notes import assumed_statute_note

    answer = pipeline.ask("第十条是什么")
    authority = pipeline.authority()
    others = len(authority.statutes_with_article(authority.unnamed_articles("第十条")[0])) - 1
    assert others >= 5  # most statutes of the corpus have a 第十条
    assert answer.citations[0].locator == "《民法典》第十条"
    assert answer.notes == (assumed_statute_note("《民法典》", 10, 0, others),)
    corpus = Path(corpus_hash_index.corpus_dir)
    assert check_answer(answer, corpus).ok
    for wrong in (
        assumed_statute_note("《民法典》", 10, 0, others + 1),  # a count the corpus does not bear out
        assumed_statute_note("《生成式人工智能服务管理暂行办法》", 30, 0, 1),  # an article it does not have
        assumed_statute_note("《民法典》", 1202, 0, 1),  # no other statute has one
        "问题未写明哪部法律，以下按《民法典》第一千二百零二条回答；资料库另有零部法律也有第一千二百零二条，可写明法律名称再问。",
    ):
        assert not check_answer(replace(answer, notes=(wrong,)), corpus).ok
    # only the 民法典 has a 第一千二百零二条, and a law named, or read from the conversation, needs no note
    assert pipeline.ask("第1202条是什么").notes == ()
    assert pipeline.ask("消保法第十条").notes == ()
    assert pipeline.ask("第十条呢", history=["消保法第九条是什么"]).notes == ()


def test_a_number_no_statute_has_is_named_missing_from_the_longest(pipeline) -> None:
    answer = pipeline.ask("第二千条是什么")
    assert answer.abstained and answer.text == MISSING_ARTICLE_TEXT and not answer.citations
    assert answer.notes == (missing_article_note("《民法典》", 1260, 2000),)


def test_a_number_named_twice_is_noted_once(pipeline) -> None:
    answer = pipeline.ask("民法典第二千条和第2000条说的是什么")
    assert answer.notes == (missing_article_note("《民法典》", 1260, 2000),)
    assert len(pipeline.ask("第十条和第10条是什么").notes) == 1


def test_a_question_in_english_is_asked_to_be_put_in_chinese(corpus_legal_index: Settings) -> None:
    from app.abstain import LANGUAGE_TEXT

    pipeline = build_pipeline(corpus_legal_index)  # the shipped model, whose decline model judges it
    answer = pipeline.ask("hi, can you tell me if I can get a refund for a broken phone bought online?")
    assert answer.abstained and answer.text == LANGUAGE_TEXT and "仅供参考" in answer.warning
    assert check_answer(answer, Path(corpus_legal_index.corpus_dir)).ok
    # a Chinese question naming something in English is judged as before
    assert not pipeline.ask("GPT生成的内容侵权了谁负责？").abstained


@pytest.mark.parametrize(
    ("question", "buyer"),
    [
        ("我们公司买了大模型API的年包，平台倒闭了，剩下的钱能要回来吗", True),
        ("公司预付了一年的AI客服服务费，服务商跑路了", True),
        ("我司开通的会员套餐功能没兑现，能退款吗", True),
        ("顾客在我们店买了东西要退货，公司必须退吗", False),  # the company sells
        ("消费者投诉我们公司的AI客服答错了", False),
        ("我在健身房办了年卡，老板跑路了", False),  # a person, not a company
        ("公司的AI模型输出错了，谁负责", False),  # a company, but nothing bought
        ("我们公司买的AI服务，能按消费者权益保护法退款吗", True),  # the statute named is no customer
    ],
)
def test_a_company_that_bought_the_service_is_told_apart(question: str, buyer: bool) -> None:
    from app.decide import buys_for_business

    assert buys_for_business(question) is buyer


def test_a_company_buyer_citing_the_consumer_law_is_told_whom_it_protects(corpus_legal_index: Settings) -> None:
    """消保法 protects those who buy "为生活消费需要": quoting its 第五十三条 to a company that prepaid an
    API plan, without a word on that, reads as if the company were such a consumer."""
    from app.notes import BUSINESS_BUYER_NOTE, CONSUMER_LAW

    pipeline = build_pipeline(corpus_legal_index)
    corpus = Path(corpus_legal_index.corpus_dir)
    article = (corpus / "statutes" / f"{CONSUMER_LAW}.md").read_text(encoding="utf-8")
    quoted = BUSINESS_BUYER_NOTE.split("“")[1].split("”")[0]
    assert f"第二条　{quoted}" in article, "the note quotes 消保法 第二条 as the corpus has it"

    company = pipeline.ask("我们公司预付了一年的AI服务费，服务商跑路了，依照消费者权益保护法能要回预付款吗？")
    assert any(c.doc_id == CONSUMER_LAW for c in company.citations), company.text[:200]
    assert BUSINESS_BUYER_NOTE in company.notes
    assert check_answer(company, corpus).ok, "a note of ours, which the verifier accepts"
    person = pipeline.ask("我在健身房预付了一年会员费，老板跑路了，依照消费者权益保护法能要回预付款吗？")
    assert any(c.doc_id == CONSUMER_LAW for c in person.citations) and BUSINESS_BUYER_NOTE not in person.notes
