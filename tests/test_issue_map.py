"""The issue map (corpus/issues.toml): valid, true to the corpus, matched by retrieval, and its errors are one line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from app.issues import IssueConfig, IssueMatcher
from evals.train.data import corpus_chunks
from ingest.embed import HashingEmbedder
from ingest.issue_map import (
    ROLES,
    IssueMapError,
    article_texts,
    check_against_corpus,
    issue_map_path,
    load_issue_map,
)
from tests.helpers import ROOT

SHIPPED = issue_map_path(ROOT / "corpus")


@pytest.fixture(scope="module")
def shipped():
    return load_issue_map(SHIPPED)


@pytest.fixture(scope="module")
def chunks():
    return corpus_chunks(ROOT / "corpus")


def _articles(chunks) -> dict[tuple[str, str], str]:
    return article_texts(chunks.values())


def test_the_shipped_map_covers_the_field(shipped) -> None:
    assert len(shipped.issues) >= 40
    names = [i.name for i in shipped.issues]
    assert len(set(names)) == len(names), "two issues share a name"
    docs = Counter(p.doc for i in shipped.issues for p in i.provisions)
    for doc in (
        "civil-code",
        "consumer-protection-law",
        "product-quality-law",
        "genai-interim-measures",
        "agreement",
        "paper",
        "blog",
    ):
        assert docs[doc] > 0, f"no issue cites {doc}"


def test_every_provision_exists_and_every_decisive_sentence_is_verbatim(shipped, chunks) -> None:
    check_against_corpus(shipped, _articles(chunks), chunks)  # raises naming the issue and provision


def test_every_issue_has_a_governing_rule_and_examples_in_both_personas(shipped) -> None:
    for issue in shipped.issues:
        assert issue.provisions[0].role == "rule" and issue.provisions[0].sentence, issue.id
        assert not issue.provisions[0].sentence.rstrip().endswith("："), (
            f"{issue.id}: a list intro decides nothing"
        )
        personas = Counter(e.persona for e in issue.examples)
        assert personas["business"] >= 2 and personas["legal"] >= 1, issue.id
        assert all(p.role in ROLES for p in issue.provisions)


def test_a_provision_the_corpus_lacks_is_named(shipped, chunks, tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'article = "第五百七十七条"', 'article = "第九千五百七十七条"', 1
    )
    broken = tmp_path / "issues.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(
        IssueMapError,
        match=r"issues\.toml: issues\[id=.+\]\.provisions\[\d\]: civil-code has no 第九千五百七十七条",
    ):
        check_against_corpus(load_issue_map(broken), _articles(chunks), chunks)


def test_a_clause_sentence_the_passage_does_not_hold_is_named(shipped, chunks, tmp_path: Path) -> None:
    """A clause's sentence is quoted as the agreement's words on the issue, so it must be verbatim too."""
    text = SHIPPED.read_text(encoding="utf-8")
    at = text.index('chunk = "agreement/8/6"\nsentence = "')
    start = at + len('chunk = "agreement/8/6"\nsentence = "')
    broken = tmp_path / "issues.toml"
    broken.write_text(text[:start] + "平台" + text[start:], encoding="utf-8")
    with pytest.raises(
        IssueMapError,
        match=r"issues\.toml: issues\[id=.+\]\.provisions\[\d+\]\.sentence: not a verbatim part of agreement/8/6",
    ):
        check_against_corpus(load_issue_map(broken), _articles(chunks), chunks)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 1\n[[issues\n", "not valid TOML"),
        (
            '[[issues]]\nid = "x-y"\nname = "n"\ndescription = "d"\n',
            r"issues\[id=x-y\]\.provisions: an issue needs at least one provision",
        ),
        ('[[issues]]\nid = "Bad Id"\n', r"issues\[1\]\.id: 'Bad Id' must be lowercase"),
        (
            '[[issues]]\nid = "a-b"\nname = "n"\ndescription = "d"\n[[issues.provisions]]\ndoc = "civil-code"\narticle = "第一条"\nrole = "ruling"\n',
            r"issues\[id=a-b\]\.provisions\[1\]\.role: 'ruling' is not one of",
        ),
        (
            '[[issues]]\nid = "a-b"\nname = "n"\ndescription = "d"\n[[issues.provisions]]\ndoc = "agreement"\nrole = "clause"\n',
            r"give exactly one of article \(statutes\) or chunk \(sources\)",
        ),
    ],
)
def test_a_malformed_map_is_one_line_naming_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "issues.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IssueMapError, match=message) as info:
        load_issue_map(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_corpus_without_a_map_has_no_issues(tmp_path: Path) -> None:
    assert load_issue_map(tmp_path / "issues.toml").issues == ()


def test_matching_finds_the_issue_of_its_own_example_and_nothing_for_an_unrelated_question(
    shipped, chunks, tmp_path: Path
) -> None:
    embedder = HashingEmbedder(dim=512)
    matcher = IssueMatcher(
        shipped,
        chunks,
        embedder.embed_documents,
        fingerprint="hash",
        cache_dir=tmp_path,
        config=IssueConfig(floor=0.9),
    )
    issue = shipped.issues[0]
    question = issue.examples[0].question
    matched = matcher.match(question, embedder.embed_query(question))
    assert matched and matched[0].issue.id == issue.id
    assert matcher.match("今天晚饭做什么菜好呢", embedder.embed_query("今天晚饭做什么菜好呢")) == []
    assert list(tmp_path.glob("issues-*.npy")), "the vectors of the map are cached"
    again = IssueMatcher(
        shipped,
        chunks,
        lambda texts: pytest.fail("re-embedded a cached map"),
        fingerprint="hash",
        cache_dir=tmp_path,
    )
    assert len(again) == len(shipped.issues)
    resolved = matcher.provisions(issue)
    assert resolved[0].provision.role == "rule" and all(
        cid in chunks for r in resolved for cid in r.chunk_ids
    )


def test_when_embeddings_cannot_tell_issues_apart_the_shared_words_decide(
    shipped, chunks, tmp_path: Path
) -> None:
    """e5-small rates a short question nearly equally close to every issue; the words it shares with an
    issue's name, description, keywords and examples (weighted by rarity) break the tie."""
    flat = lambda texts: [[1.0, 0.0] for _ in texts]  # noqa: E731 - every text equally similar
    rare = lambda terms: dict.fromkeys(terms, 1.0)  # noqa: E731
    outage, terms_issue = shipped.issues[0], shipped.issues[3]
    question = outage.examples[0].question
    config = IssueConfig(floor=0.5, keyword_weight=0.0)
    by_words = IssueMatcher(shipped, chunks, flat, config=config, idf=rare)
    assert by_words.scores(question, [1.0, 0.0])[0].issue.id == outage.id
    assert by_words.scores(terms_issue.examples[0].question, [1.0, 0.0])[0].issue.id == terms_issue.id
    without = IssueMatcher(shipped, chunks, flat, config=config)
    assert {m.score for m in without.scores(question, [1.0, 0.0])} == {1.0}


def test_ingest_checks_the_map_and_names_each_mistake(index_copy, tmp_path: Path, run_legalqa) -> None:
    """Legal staff edit issues.toml; `legalqa ingest` tells them what is wrong.  A malformed file stops
    the ingest with one line and leaves the index as it was (the app would drop the whole map); a
    provision the corpus lacks (a typo, or a statute edited since) is named in the report and the
    ingest goes on, so an amended statute never blocks its own ingest."""
    import shutil

    from ingest import index_layout
    from ingest.cli import ingest
    from tests.helpers import settings_env

    corpus = tmp_path / "corpus"
    shutil.copytree(SHIPPED.parent, corpus)
    settings = index_copy(corpus_dir=corpus)
    current = index_layout.read_current(settings.index_dir)
    text = SHIPPED.read_text(encoding="utf-8")
    (corpus / "issues.toml").write_text(text + "\n[[issues]\n", encoding="utf-8")
    with pytest.raises(IssueMapError, match=r"issues\.toml: not valid TOML: .*line \d+"):
        ingest(settings, show_progress=False)
    failed = run_legalqa(["ingest", "--quiet"], settings_env(settings))
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "not valid TOML" in failed.stderr
    assert index_layout.read_current(settings.index_dir) == current

    typo = text.replace('article = "第五百七十七条"', 'article = "第五百七十七"', 1)
    (corpus / "issues.toml").write_text(typo, encoding="utf-8")
    report = ingest(settings, show_progress=False)
    assert report.up_to_date  # the corpus did not change; the map's mistake is reported, not fatal
    (problem,) = report.issue_map_problems
    assert problem.endswith("civil-code has no 第五百七十七") and "issues.toml: issues[id=" in problem
    shown = run_legalqa(["ingest", "--quiet"], settings_env(settings))
    assert shown.returncode == 0 and "civil-code has no 第五百七十七" in shown.stdout
    (corpus / "issues.toml").write_text(text, encoding="utf-8")
    assert not ingest(settings, show_progress=False).issue_map_problems


@pytest.mark.slow
def test_a_statute_named_in_the_question_is_not_an_issue_word(corpus_legal_index) -> None:
    """ "产品质量法里的缺陷是怎么定义的" once opened with 争点：诉讼时效: that issue's text cites 产品质量法
    第四十五条, so the law's name alone made it the best match by words.  A name says where to look."""
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(corpus_legal_index)
    answer = pipeline.ask("产品质量法里的‘缺陷’是怎么定义的？")
    assert not answer.abstained
    assert answer.citations[0].locator.endswith("第四十六条"), [c.locator for c in answer.citations]
    assert "诉讼时效" not in answer.text.split("相关规定")[0]


@pytest.fixture(scope="module")
def legal_pipeline(corpus_legal_index):
    """The pipeline a fresh `make app` serves, built once for the questions below."""
    from app.pipeline import build_pipeline

    return build_pipeline(corpus_legal_index)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "issue", "first"),
    [
        # 算错 is how people say the model's output was wrong; without it the question sat nearer
        # 共同侵权 and the API developer's allocation, and the answer opened with the user's indemnity
        ("我们用大模型做财务分析，结果它算错了导致损失，平台要赔吗", "ai-output-inaccuracy", True),
        # an upgrade that made the model worse is the provider changing the service on its own (matched,
        # not first: the question memory's nearest questions were answered by 七、7 on 效果降低, and
        # put 用户不当使用 first)
        ("模型升级后效果变差了，和我们签约时说的不一样", "unilateral-change-of-service", False),
        # prompts leaked to a rival: the user's input, not 名誉权, which e5-small put first
        ("我们的提示词被平台泄露给了竞争对手", "user-input-data-use", True),
        # a "仅供参考" disclaimer is a standard term excluding liability, beside the AI-output issue
        ("平台说模型输出仅供参考，出了事不负责，这合法吗", "standard-terms-invalid-exclusion", False),
        ("AI画的图能不能申请版权", "ai-output-copyright-ownership", False),
        # "能商用吗" asks whether the output is the user's to sell (the agreement's 商业化使用 clause)
        ("AI画的图能商用吗，会不会侵权", "ai-output-copyright-ownership", True),
        # users turning a developer's app to pornography: the provider's duty over content (had matched the
        # API developer's allocation and the user's input data)
        ("我们开发的AI应用被用户拿去生成色情内容，我们要担责吗", "genai-provider-content-liability", True),
        # a price rise mid-contract is a change of the service's terms, beside 情势变更
        ("API价格突然涨了一倍，合同期内能涨价吗", "unilateral-change-of-service", False),
    ],
)
def test_colloquial_words_for_an_issue_match_it(legal_pipeline, shipped, question, issue, first) -> None:
    """The map's keywords carry the words business users type for an issue, which e5-small alone
    placed nearer to other issues.  (Answers name their issues, best first.)"""
    name = next(i.name for i in shipped.issues if i.id == issue)
    matched = list(legal_pipeline.ask(question).issues)
    assert name in (matched[:1] if first else matched), matched


def test_the_question_memory_orders_issues_that_score_alike_but_never_lets_one_pass_the_floor(
    shipped, chunks
) -> None:
    """Evidence (chunk id → 1 / rank in the question memory) reorders the issues above the floor by the
    provisions the nearest remembered questions were answered by; below the floor nothing matches."""
    flat = lambda texts: [[1.0, 0.0] for _ in texts]  # noqa: E731 - every text equally similar
    matcher = IssueMatcher(
        shipped, chunks, flat, config=IssueConfig(floor=0.5, keyword_weight=0.0, margin=0.05)
    )
    question = "这个问题各争点打分一样"
    plain = matcher.match(question, [1.0, 0.0])
    assert plain and {m.score for m in plain} == {1.0}
    owners = Counter(c for i in shipped.issues for r in matcher.provisions(i) for c in set(r.chunk_ids))
    target, chunk = next(
        (i, c)
        for i in shipped.issues
        if i.id not in {m.issue.id for m in plain}
        for r in matcher.provisions(i)
        for c in r.chunk_ids
        if owners[c] == 1  # a provision no other issue lists
    )
    moved = matcher.match(question, [1.0, 0.0], {chunk: 1.0})
    assert moved[0].issue.id == target.id
    assert moved[0].score == pytest.approx(1.0 + matcher.config.evidence_weight)
    assert matcher.match(question, [1.0, 0.0], {chunk: 0.5})[0].issue.id == target.id  # rank 2 still counts
    off = IssueMatcher(shipped, chunks, flat, config=IssueConfig(floor=1.5))
    assert off.match(question, [1.0, 0.0], {chunk: 1.0}) == []


@pytest.mark.slow
def test_a_disclaimer_in_the_terms_opens_with_the_rule_on_standard_term_exclusions(
    corpus_legal_index,
) -> None:
    """The issue's own probe: the question names the model's output, and e5-small put three AI-output
    issues a hair above 格式条款免责; the question memory (its nearest questions were answered by
    第四百九十七条) decides."""
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(corpus_legal_index)
    answer = pipeline.ask("平台在用户协议里写了‘对模型输出不承担任何责任’，这种条款有效吗？")
    assert not answer.abstained
    points = answer.text.split("相关规定")[0]
    assert "格式条款" in points.split("\n- ")[0], points[:300]
    assert "第四百九十七条" in points, points[:300]


def test_a_second_matter_the_question_raises_in_the_maps_words_is_matched_beyond_the_margin(
    shipped, chunks
) -> None:
    """A story about an outage that adds "协议里说不负责" sits, as a vector, next to the outage issue alone;
    the standard-terms issue, whose keyword it uses, is matched too (``raised``), and an issue whose
    words the question does not use stays out however close it scores."""
    outage = next(i for i in shipped.issues if i.id == "service-outage-breach")
    exclusion = next(i for i in shipped.issues if i.id == "standard-terms-invalid-exclusion")
    own = set(outage.texts())
    near = lambda texts: [[1.0, 0.0] if t in own else [0.9, 0.435889894] for t in texts]  # noqa: E731
    matcher = IssueMatcher(shipped, chunks, near, config=IssueConfig(floor=0.5, lexical_weight=0.0))
    story = "我们接的大模型接口宕机三天，业务全停了，平台协议里说服务中断不负责，能索赔吗？"
    matched = matcher.match(story, [1.0, 0.0])
    assert [(m.issue.id, m.raised) for m in matched] == [(outage.id, False), (exclusion.id, True)]
    plain = matcher.match("我们接的大模型接口宕机三天，业务全停了，能索赔吗？", [1.0, 0.0])
    assert [m.issue.id for m in plain] == [outage.id]


def test_an_issue_the_question_names_in_its_words_is_not_crowded_out_by_issues_it_is_only_near(
    shipped, chunks
) -> None:
    """Three issues sit closest to the question's vector, none by its words; the issue whose keyword
    (违法内容) the question uses keeps the last of the ``limit`` places instead of falling off the end."""
    content = next(i for i in shipped.issues if i.id == "genai-provider-content-liability")
    assert "违法内容" in content.keywords
    near_ids = [i.id for i in shipped.issues if i.id != content.id][:3]
    near = {t for i in shipped.issues if i.id in near_ids for t in i.texts()}
    vectors = lambda texts: [[1.0, 0.0] if t in near else [0.9, 0.435889894] for t in texts]  # noqa: E731
    matcher = IssueMatcher(shipped, chunks, vectors, config=IssueConfig(floor=0.5, lexical_weight=0.0, limit=3))
    matched = matcher.match("用户用我们的产品写了违法内容，要担责吗", [1.0, 0.0])
    assert len(matched) == 3
    assert {m.issue.id for m in matched[:2]} < set(near_ids) and not any(m.raised for m in matched[:2])
    assert (matched[2].issue.id, matched[2].raised) == (content.id, True)
