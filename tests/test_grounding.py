from app.grounding import check_sentence, ground, split_sentences

PASSAGES = [
    "第一千二百零二条　因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。",
    "第五十五条　经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的三倍。",
]


def test_verbatim_sentence_is_a_quote():
    assert check_sentence("因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。[1]", PASSAGES)[0] == "quote"


def test_paraphrase_with_terms_in_passage_is_verified():
    assert check_sentence("经营者有欺诈行为的，增加赔偿的金额为价款的三倍。[2]", PASSAGES)[0] == "verified"


def test_citation_number_out_of_range_is_unsupported():
    assert check_sentence("生产者应当承担侵权责任。[9]", PASSAGES) == ("unsupported", (9,))


def test_uncited_sentence_is_unsupported():
    assert check_sentence("生产者应当承担侵权责任。", PASSAGES)[0] == "unsupported"


def test_fabricated_article_number_is_unsupported():
    assert check_sentence("依据第一千三百条，生产者应当承担侵权责任。[1]", PASSAGES)[0] == "unsupported"


def test_claim_not_in_passage_is_unsupported():
    assert check_sentence("平台完成备案后即可免除全部赔偿责任。[1]", PASSAGES)[0] == "unsupported"


def test_ground_counts_unsupported_and_keeps_numbers():
    result = ground("生产者应当承担侵权责任。[1] 欺诈的赔偿为两倍，最低一千元。[2]\n忽略。", PASSAGES)
    assert [s.support for s in result.statements] == ["quote", "unsupported", "unsupported"]
    assert result.unsupported == 2
    assert result.statements[0].citations == (1,)


def test_split_keeps_trailing_markers():
    assert split_sentences("甲。[1][2]乙！[3]") == ["甲。[1][2]", "乙！[3]"]
