"""Follow-up questions are read against the conversation on every path: Python, CLI, HTTP API."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.abstain import MISSING_ARTICLE_TEXT
from app.answer import Answer
from app.conversation import (
    Turn,
    adds_no_matter,
    context_for,
    is_elliptical,
    resolved_query,
    stands_alone,
)
from app.pipeline import Pipeline, build_pipeline
from app.pointers import AGREEMENT_CLAUSE, LAST, ONLY, answer_references, read_pointers
from app.question import clean_question
from app.render import history_turns
from ingest.settings import Settings
from tests.helpers import ROOT, clean_env, settings_env

OPENING = "我们用了某家的大模型API做客服，结果他们服务宕机一天，我们损失不小，能要求赔偿吗？"
FOLLOW_UP = "那如果合同里写了他们不承担任何责任呢？"


@pytest.mark.parametrize(
    "question",
    [
        "那如果是我们自己修改过的内容呢？",
        "这种情况下呢",
        "它还要赔吗",
        "有时间限制吗？",
        "能要多少？我就付了98块。",
    ],
)
def test_elliptical_follow_ups_are_recognised(question: str) -> None:
    assert is_elliptical(question)


@pytest.mark.parametrize(
    "question",
    [
        OPENING,
        "《消费者权益保护法》第五十五条规定的惩罚性赔偿怎么计算？",
        "平台在用户协议里用加粗字体写了不对模型生成内容承担任何责任，这种免责条款在法律上有效吗？",
    ],
)
def test_questions_that_stand_alone_are_not_rewritten(question: str) -> None:
    assert context_for(question, [OPENING]) == ""


@pytest.mark.parametrize("question", ["这笔钱拖了快两年了还能要吗", "医药费能要回来多少"])
def test_follow_ups_without_a_subject_of_their_own_are_read_in_context(question: str) -> None:
    """Neither opens nor leans like a continuation, yet neither says what it is about."""
    assert not is_elliptical(question)
    assert context_for(question, [OPENING]) == OPENING
    assert context_for(question, []) == ""


def test_context_is_the_last_standalone_question_and_the_follow_up_since() -> None:
    history = [OPENING, FOLLOW_UP, Turn("assistant", "……")]
    context = context_for("这种情况下呢？", history)
    assert context.startswith(OPENING) and context.endswith(FOLLOW_UP)
    assert resolved_query("这种情况下呢？", context).endswith("这种情况下呢？")
    assert context_for("这种情况下呢？", []) == "", "no conversation, nothing to read it against"


def test_the_opening_question_stays_when_a_later_question_became_the_matter() -> None:
    """A second question that stands on its words ("那边的协议怎么说") is the matter now, yet the
    conversation is still about what it opened with; a repeated question is searched once."""
    later = "大模型服务商的用户协议对这类数据是怎么约定的？"
    context = context_for("万一泄露了呢？", [OPENING, later])
    assert not is_elliptical(later)
    assert context.startswith(OPENING) and context.endswith(later)
    assert context_for("万一泄露了呢？", [OPENING, OPENING]) == OPENING


def test_history_may_be_chat_messages_as_clients_write_them() -> None:
    """{"role", "content"} dicts (OpenAI-style clients, LangChain) read like Turns; anything else is one
    clear TypeError, not an AttributeError from deep inside."""
    messages = [{"role": "user", "content": OPENING}, {"role": "assistant", "content": "……"}]
    assert context_for("这种情况下呢？", messages) == context_for("这种情况下呢？", [OPENING])
    with pytest.raises(TypeError, match="a history item is a question, a Turn or a"):
        context_for("这种情况下呢？", [42])  # type: ignore[list-item]


def test_pipeline_reads_a_follow_up_against_history_and_says_so(corpus_hash_index: Settings) -> None:
    pipeline = build_pipeline(corpus_hash_index)
    alone = pipeline.ask(FOLLOW_UP)
    followed = pipeline.ask(FOLLOW_UP, history=[OPENING])
    assert alone.searched == ""
    assert followed.searched.startswith(clean_question(OPENING, 500)) and followed.question == clean_question(
        FOLLOW_UP, 500
    )
    assert followed.warning == alone.warning and "仅供参考" in followed.warning
    turns = pipeline.ask(FOLLOW_UP, history=[Turn("user", OPENING), Turn("assistant", "答")])
    assert turns.searched == followed.searched


def test_legalqa_chat_carries_the_conversation(corpus_hash_index: Settings) -> None:
    env = clean_env(**settings_env(corpus_hash_index))
    done = subprocess.run(
        [sys.executable, "-m", "app", "chat"],
        input=f"{OPENING}\n{FOLLOW_UP}\n/new\n{FOLLOW_UP}\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("仅供参考，不构成法律意见") >= 6, (
        "every answer carries the warning, top and bottom"
    )
    assert done.stdout.count("按上下文理解为：") == 1, "read in context once; /new forgets the conversation"


def test_legalqa_chat_lets_a_follow_up_point_at_the_last_answers_sources(corpus_hash_index: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "chat"],
        input="民法典第五百七十七条和第五百八十四条是什么\n第二个引用呢\n",
        capture_output=True,
        text=True,
        env=clean_env(**settings_env(corpus_hash_index)),
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    second = done.stdout.split("按上下文理解为：")[1]
    assert second.startswith("《民法典》第五百八十四条")
    assert "[1] 《民法典》第五百八十四条" in second


def test_http_api_uses_history_on_both_endpoints(corpus_hash_index: Settings) -> None:
    from fastapi.testclient import TestClient

    from app.api.server import create_app

    with TestClient(create_app(corpus_hash_index, token="")) as client:
        body = client.post(
            "/v1/ask", json={"question": FOLLOW_UP, "history": [{"role": "user", "content": OPENING}]}
        ).json()
        assert body["question_context"] and body["question_context"].startswith(clean_question(OPENING, 500))
        assert client.post("/v1/ask", json={"question": FOLLOW_UP}).json()["question_context"] is None
        chat = client.post(
            "/v1/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": OPENING},
                    {"role": "assistant", "content": "答"},
                    {"role": "user", "content": FOLLOW_UP},
                ]
            },
        ).json()
        content = chat["choices"][0]["message"]["content"]
        assert "按上下文理解为：" in content and "仅供参考" in content


@pytest.mark.slow
def test_an_off_topic_turn_is_a_new_matter_and_a_subjectless_one_is_read_in_context(
    corpus_legal_index: Settings,
) -> None:
    """With the trained decline model: the conversation's words do not make an off-topic turn answerable."""
    pipeline = build_pipeline(corpus_legal_index)
    off_topic = pipeline.ask("红烧肉怎么做才不腻？", history=[OPENING])
    assert off_topic.abstained and off_topic.searched == ""
    subjectless = pipeline.ask("这笔钱拖了快两年了还能要吗", history=[OPENING])
    assert subjectless.searched.startswith(clean_question(OPENING, 500)) and not subjectless.abstained
    # a step of a claim asks it of the matter (alone, the decline model is sure it is off-topic: 0.015)
    product = "智能音箱充电时爆炸把人炸伤了，厂家要负责吗"
    when = pipeline.ask("多久之内要起诉", history=[product])
    assert not when.abstained and when.searched.startswith(clean_question(product, 500))


def test_a_follow_up_that_only_names_a_statute_asks_the_conversations_matter_of_it(
    corpus_legal_index: Settings,
) -> None:
    assert not stands_alone("那消保法怎么规定的？") and not stands_alone("个保法呢")
    assert stands_alone("电子商务法对平台责任怎么规定") and stands_alone("消保法第二十四条呢")
    # the shipped model: the hash embedder's rule declines the matter itself
    answer = build_pipeline(corpus_legal_index).ask(
        "个保法呢", history=["我们的AI产品生成了别人的肖像，要担什么责任？"]
    )
    assert answer.searched and not answer.abstained
    assert answer.citations[0].doc_id == "personal-information-protection-law"


def test_a_follow_up_article_number_is_read_in_the_conversations_statute(corpus_hash_index: Settings) -> None:
    history = ["网购的东西有质量问题能退吗", "消保法第二十四条呢"]
    answer = build_pipeline(corpus_hash_index).ask("第二十五条呢", history=history)
    assert answer.citations[0].locator == "《消费者权益保护法》第二十五条"
    assert "《民法典》第二十五条" not in [c.locator for c in answer.citations]


def test_an_article_only_the_conversation_named_does_not_lead_a_follow_up(
    corpus_legal_index: Settings,
) -> None:
    pipeline = build_pipeline(corpus_legal_index)
    answer = pipeline.ask("那违约金过高呢", history=["民法典第五百七十七条"])
    assert answer.searched and not answer.abstained
    assert not any(r.via == "lookup" for r in answer.retrieved)  # the follow-up names no article
    assert answer.citations[0].locator == "《民法典》第五百八十五条", answer.text  # 违约金的调整 answers it
    # an article the follow-up names still leads, read in the conversation's statute
    named = pipeline.ask("第五百八十五条呢", history=["民法典第五百七十七条"])
    assert named.citations[0].locator == "《民法典》第五百八十五条"


def test_saying_the_topic_changes_makes_a_question_stand_alone(corpus_hash_index: Settings) -> None:
    pipeline = build_pipeline(corpus_hash_index)
    changed = pipeline.prepare("换个话题，我被公司辞退了，能要求经济补偿吗？", [OPENING])
    assert not changed.resolved and changed.query == "我被公司辞退了,能要求经济补偿吗?"  # searched without it
    assert pipeline.prepare("我被公司辞退了，能要求经济补偿吗？", [OPENING]).resolved
    # the preamble is no matter of its own: a bare lookup after it is still one
    assert pipeline.ask("换个话题，劳动合同法第三十九条是什么", history=[OPENING]).abstained
    # and what came before the change is no longer the conversation's matter
    after = pipeline.prepare(
        "那要赔多少", [OPENING, "换个话题，我们用大模型生成的内容侵犯了别人名誉权，平台要担责吗"]
    )
    assert after.resolved and OPENING[:10] not in after.query and "名誉权" in after.query


def test_a_bare_number_after_a_law_we_do_not_hold_is_never_the_civil_codes(
    corpus_hash_index: Settings,
) -> None:
    answer = build_pipeline(corpus_hash_index).ask(
        "第五十二条呢", history=["劳动合同法第三十九条", "那合同法呢"]
    )
    assert answer.abstained and not answer.citations
    assert answer.notes == ("《合同法》已于2021年1月1日《民法典》施行时废止（《民法典》第一千二百六十条）。",)
    past_the_end = build_pipeline(corpus_hash_index).ask("第九十九条呢", history=["消保法第二十四条是什么"])
    assert past_the_end.notes == ("《消费者权益保护法》共六十三条，没有第九十九条。",)
    assert past_the_end.searched == "消保法第九十九条呢"  # what was looked up is shown


def test_a_bare_number_after_the_agreement_is_its_section(corpus_hash_index: Settings) -> None:
    pipeline = build_pipeline(corpus_hash_index)
    answer = pipeline.ask("第十二条呢？", history=["用户协议里关于违约是怎么规定的？"])
    assert answer.citations[0].chunk_id.startswith("agreement/12/")
    statute = pipeline.ask("第十二条呢？", history=["用户协议第八条", "民法典第四百九十七条呢"])
    assert statute.citations[0].locator == "《民法典》第十二条"


def test_the_corresponding_provision_of_another_statute_is_found_for_articles_named_before(
    corpus_legal_index: Settings,
) -> None:
    history = ["民法典第一千一百九十五条", "第一千一百九十七条呢？"]
    answer = build_pipeline(corpus_legal_index).ask("那电商法里对应的是哪条？", history=history)
    assert answer.citations and {c.doc_id for c in answer.citations} == {"e-commerce-law"}


@pytest.mark.parametrize(
    ("question", "again"),
    [
        ("能说得简单点吗？", True),
        ("那我应该怎么办？", True),
        ("什么意思", True),
        ("那如果是我们自己修改过的内容呢？", False),  # a new fact: searched in its own right too
        ("那消保法怎么规定的？", False),
    ],
)
def test_a_follow_up_that_only_asks_again_adds_no_matter(question: str, again: bool) -> None:
    assert adds_no_matter(question) is again


def test_a_bare_clause_number_after_a_part_of_the_agreement_is_a_clause_of_that_part(
    corpus_hash_index: Settings,
) -> None:
    pipeline = build_pipeline(corpus_hash_index)
    clause = pipeline.ask("第3条呢", history=["用户协议第八部分是什么"])
    assert (
        clause.searched.endswith("用户协议第八部分第3条呢")
        and clause.citations[0].chunk_id == "agreement/8/3"
    )
    part = pipeline.ask("第十二部分呢", history=["用户协议里关于责任限制怎么约定的？"])
    assert part.citations[0].chunk_id.startswith("agreement/12/")


@pytest.mark.parametrize(
    ("history", "follow_up", "locator"),
    [
        (["民法典第五百八十四条能否突破用户协议的赔偿上限"], "第五百八十五条呢", "《民法典》第五百八十五条"),
        (
            ["民法典和消保法对格式条款都有规定吗"],
            "第四百九十六条呢",
            "《民法典》第四百九十六条",
        ),  # only 民法典 has it
        (["暂行办法第七条讲什么"], "该办法第九条呢", "《生成式人工智能服务管理暂行办法》第九条"),
    ],
)
def test_a_bare_number_goes_to_the_source_named_before_that_has_it(
    corpus_hash_index: Settings, history: list, follow_up: str, locator: str
) -> None:
    answer = build_pipeline(corpus_hash_index).ask(follow_up, history=history)
    assert answer.citations and answer.citations[0].locator == locator


def test_a_bare_number_after_another_partys_document_is_that_documents(corpus_hash_index: Settings) -> None:
    history = ["我们跟供应商的合同第十二条写了逾期罚款，合法吗"]
    answer = build_pipeline(corpus_hash_index).ask("第十三条呢", history=history)
    assert answer.abstained and not answer.citations and answer.text == MISSING_ARTICLE_TEXT


@pytest.mark.parametrize(
    ("question", "numbers"),
    [
        ("你刚才说的第一条是什么意思？", [1]),
        ("第二个引用呢", [2]),
        ("[2]是什么意思", [2]),
        ("引用3说的啥", [3]),
        ("引用二说的啥", [2]),
        ("上面第二个呢", [2]),
        ("那第三个呢", [3]),
        ("第二个是啥意思", [2]),
        ("再解释下第二个", [2]),
        ("第一个和第三个有什么区别", [1, 3]),
        ("刚才提到的第1条和第2条有什么区别", [1, 2]),
        ("你引用的第1和第2条分别说的啥", [1, 2]),
        ("回答里第三条依据的原文", [3]),
        ("最后一个引用是什么意思", [LAST]),
        ("这条对企业用户也适用吗", [ONLY]),
        ("上面那条协议条款对我们企业也适用吗", [AGREEMENT_CLAUSE]),
        ("你刚说的第一条是啥意思", [1]),
        ("你刚提到的第二条呢", [2]),
        ("第一条和第三条引用分别讲什么", [1, 3]),
        ("第2条引用呢", [2]),
        ("倒数第一个引用讲的啥", [LAST]),
        ("最后一条呢", [LAST]),
        ("最后那个引用说的是啥", [LAST]),
        ("引用1和2有什么不同", [1, 2]),
        # everyday words, not pointers
        ("最后一个月的工资老板扣着不发怎么办", []),
        ("我买了两个充电宝，第一个有质量问题，能退吗", []),
        ("第二个也不能充电，商家也不管", []),
        ("刚才的第一个客服说可以退，后来又说不行", []),
        ("我之前的第二个网店也是这样，能投诉吗", []),
        ("他有两个孩子，第二个是非婚生的，也能分吗", []),
        ("如果我只引用一段，并注明了作者呢", []),
        ("转载时出处一定要写清楚吗", []),
        ("保姆说她的收入来源一直就是我爸，能多分吗", []),
        ("我和房东签的那个协议里写押金一律不退，有效吗", []),
        ("遗嘱里第二个条款写着房子给保姆，有效吗", []),
        ("商家退货须知上面写的第3条说拆封不退，合法吗", []),
        ("我转发的这条是别人写的，我也要担责吗", []),
        ("你刚才说的第五百八十四条", []),  # an article number, not a position in the list
        ("你能解释一下民法典第二条吗", []),  # the law's own article, named
        ("你再说说消保法第一条是什么", []),
        ("民法典第一条", []),
        ("第二个问题是", []),
        ("第二个孩子能继承吗", []),
        ("这条裙子质量有问题", []),
        ("第一条是什么", []),  # no pointer back: the article, read in the conversation's statute
    ],
)
def test_pointers_at_the_last_answers_sources(question: str, numbers: list[int]) -> None:
    assert [n for _s, _e, n in answer_references(question)] == numbers


LISTING = (
    "【回答】…[1]…[2]\n\n【引用】\n[1] 《消费者权益保护法》第二十五条  (consumer-protection-law:7732-7822)\n"
    "    第二十五条　…\n[2] 《用户协议》三、您的权利和义务 第8条第(4)项  (agreement:3000-3100)\n"
)
ONE = "【引用】\n[1] 《民法典》第五百四十三条  (civil-code:48109-48132)\n"
LOCATED = {"consumer-protection-law": "cpl/25", "agreement": "agreement/3/8/4", "civil-code": "cc/543"}


def _locate(passage) -> str:  # noqa: ANN001
    return LOCATED[passage.doc_id]


def _unnamed(question: str) -> list[tuple[int, int, int]]:
    from ingest.articles import find_article_refs

    return [(r.position, r.position + len(r.text), r.number) for r in find_article_refs(question)]


def test_a_pointer_is_read_with_the_answer_that_lists_its_number() -> None:
    history = [Turn("user", "q1"), Turn("assistant", LISTING), Turn("user", "q2"), Turn("assistant", ONE)]
    assert read_pointers("你刚才说的第一条是什么意思？", history, _locate, _unnamed) == (
        "《民法典》第五百四十三条是什么意思？",
        ("cc/543",),
    )
    # the last answer has one source: "第二个引用" is the one before's
    assert read_pointers("第二个引用呢", history, _locate, _unnamed) == (
        "《用户协议》三、您的权利和义务 第8条第(4)项呢",
        ("agreement/3/8/4",),
    )
    # positions asked together are read in one answer, the last that lists them all
    assert read_pointers("引用1和2有什么不同", history, _locate, _unnamed) == (
        "《消费者权益保护法》第二十五条、《用户协议》三、您的权利和义务 第8条第(4)项有什么不同",
        ("cpl/25", "agreement/3/8/4"),
    )
    # an article number a cited source has is that source, whatever the list's length
    assert read_pointers("刚才那个第二十五条，拆封了的还能退吗", history, _locate, _unnamed) == (
        "刚才那个《消费者权益保护法》第二十五条，拆封了的还能退吗",
        ("cpl/25",),
    )
    # a position no answer lists, or a pointer without any list: left out, never 民法典第九条 / 第一条
    assert read_pointers("你刚才说的第九条是什么意思", history, _locate, _unnamed) == ("是什么意思", ())
    assert read_pointers("你刚才说的第一条是什么意思", ["q1"], _locate, _unnamed) == ("是什么意思", ())
    assert read_pointers("第一条是什么", history, _locate, _unnamed) is None


def _opened(settings: Settings, opening: str) -> tuple[Pipeline, Answer, list[Turn]]:
    """A pipeline, its answer to ``opening`` and the conversation so far as the terminal and browser keep it."""
    pipeline = build_pipeline(settings)
    first = pipeline.ask(opening)
    return pipeline, first, history_turns([opening], [first])


def test_a_follow_up_pointing_at_the_last_answers_source_quotes_that_source(
    corpus_hash_index: Settings,
) -> None:
    opening = "民法典第五百七十七条和第五百八十四条是什么"
    pipeline, first, turns = _opened(corpus_hash_index, opening)
    assert len(first.citations) >= 2
    for pointer, number in (("你刚才说的第一条是什么意思？", 1), ("第二个引用呢", 2)):
        cited = first.citations[number - 1]
        answer = pipeline.ask(pointer, history=turns)
        assert answer.citations and answer.citations[0].chunk_id == cited.chunk_id
        assert cited.locator in answer.searched  # shown as searched: "按上下文理解为：…"
        assert "《民法典》第一条" not in [c.locator for c in answer.citations]
    # a client that sends the questions only: the pointer is never the 民法典's 第一条
    blind = pipeline.ask("你刚才说的第一条是什么意思？", history=[opening])
    assert "《民法典》第一条" not in [c.locator for c in blind.citations]
    # nor later in the conversation, where the pointer stands among the earlier questions
    later = pipeline.ask("那第三个呢", history=[*turns, Turn("user", "第二个引用呢")])
    assert "《民法典》第一条" not in [c.locator for c in later.citations]


def test_a_pointer_asked_of_another_statute_ranks_that_statute_for_the_source(
    corpus_hash_index: Settings,
) -> None:
    pipeline, _first, turns = _opened(corpus_hash_index, "消保法第二十五条是什么")
    answer = pipeline.ask("[1]在电商法里有对应的规定吗", history=turns)
    assert answer.citations[0].locator == "《消费者权益保护法》第二十五条"
    assert any(c.doc_id == "e-commerce-law" for c in answer.citations[1:])


def test_a_bare_number_after_an_answer_is_read_in_the_statute_it_cited(corpus_hash_index: Settings) -> None:
    pipeline, _first, turns = _opened(corpus_hash_index, "消保法第二十五条是什么")
    for follow_up in ("那55条呢", "那五十五条呢"):
        answer = pipeline.ask(follow_up, history=turns)
        assert answer.citations[0].locator == "《消费者权益保护法》第五十五条", follow_up
