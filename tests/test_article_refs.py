import pytest

from app.citations_ref import StatuteNames


@pytest.fixture(scope="module")
def names():
    return StatuteNames({"civil-code": ["中华人民共和国民法典", "《民法典》"], "genai-interim-measures": ["生成式人工智能服务管理暂行办法"]})


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
    ],
)
def test_article_references(names, text, expected):
    assert [(r.doc_id, r.number, r.suffix) for r in names.article_refs(text)] == expected


def test_default_doc_applies_to_bare_numbers(names):
    refs = names.article_refs("依照本法第十条的规定", default_doc="civil-code")
    assert [(r.doc_id, r.number) for r in refs] == [("civil-code", 10)]
