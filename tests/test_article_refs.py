import pytest

from app.citations_ref import AgreementNames, StatuteNames, agreement_clause_refs, agreement_section_refs
from ingest.articles import repealed_codes, to_int


@pytest.fixture(scope="module")
def names():
    return StatuteNames(
        {
            "civil-code": ["中华人民共和国民法典", "《民法典》"],
            "genai-interim-measures": ["生成式人工智能服务管理暂行办法"],
        },
        repealed=("民法通则", "合同法"),  # as the 民法典's 第一千二百六十条 names them
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("民法典第1202条", [("civil-code", 1202, 0)]),
        ("民法典 第 1202 条怎么规定", [("civil-code", 1202, 0)]),
        ("第一千二百零二条", [(None, 1202, 0)]),
        ("消保法55条", [("consumer-protection-law", 55, 0)]),
        ("消费者权益保护法第五十五条", [("consumer-protection-law", 55, 0)]),
        ("《生成式人工智能服务管理暂行办法》第九条", [("genai-interim-measures", 9, 0)]),
        ("生成式办法第4条和民法典第1165条", [("genai-interim-measures", 4, 0), ("civil-code", 1165, 0)]),
        ("著作权法第十条之一", [("copyright-law", 10, 1)]),
        ("第１２０２条", [(None, 1202, 0)]),
        ("我有55条意见", []),
        ("暂行办法第九条规定了提供者什么义务", [("genai-interim-measures", 9, 0)]),
        # a number of a document that is none of ours is not the corpus's article of that number
        ("劳动合同法第三十九条", []),
        ("民法通则第一百零六条", []),  # a repealed code's number is not the 民法典's
        ("《劳动合同法》第三十九条规定了什么", []),
        ("我们跟供应商的合同第十二条写了逾期罚款，合法吗", []),
        ("隐私政策里第三条说可以共享数据", []),
        ("公司员工手册第24条规定离职要赔培训费", []),
        ("小区管理规约第二十五条说不能养狗", []),
        ("民法典规定第五百八十四条", [("civil-code", 584, 0)]),
    ],
)
def test_article_references(names, text, expected):
    assert [(r.doc_id, r.number, r.suffix) for r in names.article_refs(text)] == expected


def test_the_verifier_still_sees_numbers_of_other_documents(names):
    refs = names.article_refs("依照《劳动合同法》第三十九条解除", of_other_documents=True)
    assert [(r.doc_id, r.number) for r in refs] == [(None, 39)]


def test_default_doc_applies_to_bare_numbers(names):
    refs = names.article_refs("依照本法第十条的规定", default_doc="civil-code")
    assert [(r.doc_id, r.number) for r in refs] == [("civil-code", 10)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("第1202条", [(1202, 0, "第1202条")]),
        ("论文引用《民法典》第 1202 条。", [(1202, 0, "第 1202 条")]),
        ("第一千二百零二条和第十条之一", [(1202, 0, "第一千二百零二条"), (10, 1, "第十条之一")]),
        ("第１２条", [(12, 0, "第１２条")]),
        ("第十十条", []),  # malformed: no article has it
        ("消保法55条", []),  # a bare number needs the statute's name: StatuteNames
    ],
)
def test_find_article_refs_reads_every_written_form(text, expected):
    from ingest.articles import find_article_refs

    refs = find_article_refs(text)
    assert [(r.number, r.suffix, r.text) for r in refs] == expected
    assert all(text[r.position : r.position + len(r.text)] == r.text for r in refs)


def test_malformed_article_is_kept_as_zero_when_asked():
    from ingest.articles import find_article_refs

    assert [(r.number, r.text) for r in find_article_refs("第十十条", keep_malformed=True)] == [
        (0, "第十十条")
    ]


def test_one_article_ref_type_for_statute_headings_and_free_text(names):
    from app import citations_ref
    from ingest.articles import ArticleRef, parse_article

    assert citations_ref.ArticleRef is ArticleRef
    found = names.article_refs("民法典第一百二十条之一")[0]
    heading = parse_article("第一百二十条之一")
    assert (found.number, found.suffix) == (heading.number, heading.suffix) == (120, 1)
    assert found.label() == heading.label() == "第一百二十条之一"


def test_is_article_label_takes_only_the_heading_form():
    from ingest.articles import is_article_label

    assert is_article_label("第一千二百零二条") and is_article_label("第十条之一")
    for bad in ("第1202条", " 第十条", "第十十条", "民法典第十条", "第十条第二款"):
        assert not is_article_label(bad), bad


REPEAL = (
    "第一千二百六十条　本法自2021年1月1日起施行。《中华人民共和国婚姻法》、《中华人民共和国合同法》、"
    "《中华人民共和国侵权责任法》同时废止。"
)


def test_the_codes_a_statute_repeals_are_read_from_its_text() -> None:
    assert repealed_codes(REPEAL) == ("婚姻法", "合同法", "侵权责任法")
    assert repealed_codes("本法自2021年1月1日起施行。") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("劳动合同法第三十九条是什么", [("劳动合同法", False)]),  # the longer name, not 合同法 inside it
        ("合同法第52条规定了什么", [("合同法", True)]),
        ("侵权法里产品责任怎么规定", [("侵权责任法", True)]),  # what people call it
        ("婚姻法规定离婚财产怎么分", [("婚姻法", True)]),
        ("公司法和劳动法都管吗", [("公司法", False), ("劳动法", False)]),
        ("这份合同法律上有效吗", []),  # 合同 + 法律, no statute
        ("消费者权益保护法第五十五条", []),  # ours
        ("民法典合同编怎么规定", []),
    ],
)
def test_statutes_the_corpus_does_not_hold_are_recognised(text: str, expected: list) -> None:
    names = StatuteNames(
        {
            "civil-code": ["中华人民共和国民法典"],
            "consumer-protection-law": ["中华人民共和国消费者权益保护法"],
        },
        repealed_codes(REPEAL),
    )
    assert [(o.name, o.repealed) for o in names.other_statutes(text)] == expected


@pytest.mark.parametrize(
    ("text", "sections", "clauses"),
    [
        ("用户协议第八条", [8], []),
        ("智谱用户协议第八部分说了什么", [8], []),
        ("服务协议八、责任限制怎么规定", [8], []),
        ("用户协议第12条讲什么", [12], []),
        ("用户协议第八部分第6条", [], [(8, 6)]),  # a clause, not the whole section
        ("我们的用户协议第八条写了免责", [], []),  # the asker's own terms
        ("协议第三条", [], []),  # which agreement is not said
    ],
)
def test_a_whole_section_of_the_agreement_is_recognised(text: str, sections: list, clauses: list) -> None:
    assert agreement_section_refs(text) == sections
    assert agreement_clause_refs(text) == clauses


def test_numbers_written_digit_by_digit_are_read_so() -> None:
    assert to_int("五〇六") == 506 and to_int("一〇六二") == 1062
    assert to_int("一千零二") == 1002 and to_int("两百") == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("高等教育法第二十条", []),  # the end of a longer name is not 教育法
        ("违反劳动法吗", ["劳动法"]),
        ("《中华人民共和国合同法》第三十九条", ["合同法"]),
        ("我们公司适用劳动法吗", ["劳动法"]),
    ],
)
def test_a_name_inside_a_longer_name_is_not_that_statute(text: str, expected: list) -> None:
    names = StatuteNames({"civil-code": ["中华人民共和国民法典"]}, ("合同法",))
    assert [o.name for o in names.other_statutes(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GDPR第17条被遗忘权", []),  # a document of another name, in any script
        ("欧盟人工智能法案第五条", []),
        ("民法典合同编通则解释第十条", []),  # an interpretation is not the code
        ("网络信息内容生态治理规定第十条", []),
        ("民法典规定第五百八十四条", [("civil-code", 584)]),  # a rule of ours
        ("民法典买卖合同第六百一十条", [("civil-code", 610)]),  # a part of ours
        ("民法典第496条、497条、498条", [("civil-code", 496), ("civil-code", 497), ("civil-code", 498)]),
        ("民法典1202", [("civil-code", 1202)]),
        ("民法典2020年颁布", []),
        ("签了协议之后平台违约，第五百七十七条怎么规定？", [(None, 577)]),  # 协议 in another clause
        ("格式条款第四百九十六条怎么规定", [(None, 496)]),
        ("生成式人工智能服务管理办法第九条", [("genai-interim-measures", 9)]),  # as people misremember it
    ],
)
def test_numbers_are_tied_to_the_document_they_follow(text: str, expected: list) -> None:
    names = StatuteNames(
        {"civil-code": ["中华人民共和国民法典"], "genai-interim-measures": ["生成式人工智能服务管理暂行办法"]}
    )
    assert [(r.doc_id, r.number) for r in names.article_refs(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("劳动法规对加班费有规定吗", []), ("劳动法规定试用期", ["劳动法"]), ("公司法务审核合同", [])],
)
def test_words_that_begin_with_a_laws_name_are_not_that_law(text: str, expected: list) -> None:
    assert [o.name for o in StatuteNames({}).other_statutes(text)] == expected


def test_the_agreements_own_numbering_is_understood() -> None:
    assert agreement_clause_refs("用户协议8.3") == agreement_clause_refs("用户协议八、3") == [(8, 3)]
    assert agreement_section_refs("用户协议八、3") == [] and agreement_section_refs(
        "用户协议八、责任限制"
    ) == [8]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("民法典第1165、1166条有什么区别", [1165, 1166]),
        ("消保法第二十五、二十六条", [25, 26]),
        ("个保法第四十四条至四十七条", [44, 45, 46, 47]),
        ("民法典第1194-1197条", [1194, 1195, 1196, 1197]),
        ("民法典第一千一百九十四条到第一千一百九十七条", [1194, 1195, 1196, 1197]),
        ("民法典第1条至第100条", [1, 100]),  # too long a range: its two ends
        ("第五百八十四条到底怎么理解", [584]),
    ],
)
def test_lists_and_ranges_of_articles(text: str, expected: list) -> None:
    names = StatuteNames(
        {
            "civil-code": ["民法典"],
            "consumer-protection-law": ["消保法"],
            "personal-information-protection-law": ["个保法"],
        }
    )
    assert [r.number for r in names.article_refs(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("《消费者权益保护法》里面第二十五条怎么规定", [("consumer-protection-law", 25)]),
        ("该办法第九条呢", [(None, 9)]),  # "this Measures": not a document of another name
        ("第1202条产品责任能不能适用于AI，还是要看产品质量法", [(None, 1202)]),  # not the later statute's
        ("民法典第506条规定的免责条款无效，用户协议第八部分第6条是否属于", [("civil-code", 506)]),
    ],
)
def test_a_number_belongs_to_the_name_right_before_it(text: str, expected: list) -> None:
    names = StatuteNames(
        {
            "civil-code": ["民法典"],
            "consumer-protection-law": ["消费者权益保护法"],
            "product-quality-law": ["产品质量法"],
        }
    )
    assert [(r.doc_id, r.number) for r in names.article_refs(text)] == expected


def test_someone_elses_agreement_is_not_zhipus() -> None:
    assert agreement_section_refs("我们公司的用户协议第十五条约定自动续费") == []
    assert agreement_section_refs("我跟一家AI绘画公司签的服务协议第18条") == []
    assert agreement_clause_refs("我们的用户协议第三部分第5条") == []
    assert agreement_section_refs("智谱用户协议第八部分说了什么") == [8]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1202条是什么", [(None, 1202)]),  # a number alone, opening the question and asked about
        ("请问1165条讲的啥", [(None, 1165)]),
        ("一千二百零二条是什么", [(None, 1202)]),
        ("1202条？", [(None, 1202)]),
        ("3条建议是什么", []),  # things counted, not an article
        ("合同里有两条是什么意思", []),
        ("那五十五条呢", [(None, 55)]),  # a follow-up: the conversation says which law
        ("那两条呢", []),
        ("这1202条是什么", []),
        ("我们签了3条补充协议呢", []),
        # the paper and the blog number none of their own: the number is the statute article they discuss
        ("论文里提到的第1202条是什么", [(None, 1202)]),
        ("用户协议第八部分第6条", []),  # the agreement numbers its own parts
    ],
)
def test_a_number_asked_about_alone_or_after_the_paper_is_an_article(
    names, text: str, expected: list
) -> None:
    assert [(r.doc_id, r.number) for r in names.article_refs(text)] == expected


# the bundled agreement and one legal staff added (`legalqa add … --title 云帆智算大模型服务协议 --short-title 云帆协议`)
AGREEMENTS = AgreementNames(
    {
        "agreement": ["大模型开放平台用户协议（智谱）", "《用户协议》"],
        "yunfan": ["云帆智算大模型服务协议", "《云帆协议》"],
    }
)


@pytest.mark.parametrize(
    ("text", "clauses", "sections"),
    [
        ("云帆协议第三条第2款", [("yunfan", 3, 2)], []),
        ("云帆协议3.2是什么", [("yunfan", 3, 2)], []),
        # its title ends in 服务协议, as people also call the bundled agreement
        ("云帆智算大模型服务协议第四部分第2条", [("yunfan", 4, 2)], []),
        ("《云帆协议》三、2", [("yunfan", 3, 2)], []),  # as the tool writes its citations
        ("云帆协议第四部分", [], [("yunfan", 4)]),
        ("《云帆协议》第五条", [], [("yunfan", 5)]),
        ("云帆协议四、数据安全", [], [("yunfan", 4)]),
        ("我们的云帆协议第三部分第5条", [("yunfan", 3, 5)], []),  # an added agreement is the asker's own
        ("用户协议第八部分第6条", [("agreement", 8, 6)], []),
        ("用户协议第八条", [], [("agreement", 8)]),
        (
            "云帆协议和用户协议第八部分第6条",
            [("agreement", 8, 6)],
            [],
        ),  # the number follows the bundled one's name
        ("用户协议8.3和云帆协议3.2", [("agreement", 8, 3), ("yunfan", 3, 2)], []),
        ("云帆协议里数据泄露的赔偿上限是多少？", [], []),
    ],
)
def test_a_reference_is_to_the_parts_of_the_agreement_it_names(
    text: str, clauses: list, sections: list
) -> None:
    assert AGREEMENTS.clause_refs(text) == clauses
    assert AGREEMENTS.section_refs(text) == sections


def test_an_added_agreement_is_named_by_its_titles_with_or_without_brackets() -> None:
    assert AGREEMENTS.mentions("《云帆协议》里数据泄露怎么赔") == [(0, 6, "yunfan")]
    assert AGREEMENTS.mentions("云帆智算大模型服务协议") == [(0, 11, "yunfan")]
    assert AGREEMENTS.mentions("用户协议第八条") == []  # the bundled one is named as people call it
    assert AGREEMENTS.title("yunfan") == "《云帆协议》" and AGREEMENTS.title("agreement") == "《用户协议》"
    # a title that says no more than "an agreement" names none of them
    assert AgreementNames({"ours": ["用户协议", "《服务协议》"]}).mentions("服务协议第八条") == []


def test_a_number_after_an_added_agreement_that_does_not_say_xieyi_is_no_article_of_a_law() -> None:
    titles = {"civil-code": ["中华人民共和国民法典"]}
    assert [r.number for r in StatuteNames(titles).article_refs("星河服务条款第五条")] == [5]
    assert StatuteNames(titles, agreements=("星河服务条款",)).article_refs("星河服务条款第五条") == []
    assert AgreementNames({"xh": ["星河服务条款"]}).section_refs("星河服务条款第五条") == [("xh", 5)]
