"""Chinese numerals: statute style both ways, exact round trip, strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.articles import ArticleRef, parse_article
from ingest.numerals import cn_to_int, int_to_cn

KNOWN = [
    (1, "一"),
    (2, "二"),
    (10, "十"),
    (11, "十一"),
    (19, "十九"),
    (20, "二十"),
    (100, "一百"),
    (101, "一百零一"),
    (110, "一百一十"),
    (111, "一百一十一"),
    (120, "一百二十"),
    (1000, "一千"),
    (1001, "一千零一"),
    (1010, "一千零一十"),
    (1011, "一千零一十一"),
    (1100, "一千一百"),
    (1202, "一千二百零二"),
    (1260, "一千二百六十"),
    (2000, "二千"),
    (9999, "九千九百九十九"),
]


@pytest.mark.parametrize(("number", "text"), KNOWN)
def test_known_values_both_ways(number: int, text: str) -> None:
    assert int_to_cn(number) == text
    assert cn_to_int(text) == number


def test_round_trip_every_article_number_up_to_2000() -> None:
    for number in range(1, 2001):
        text = int_to_cn(number)
        assert cn_to_int(text) == number, text
        assert not text.startswith("一十")  # 第十条, never 第一十条
        assert "零零" not in text


@given(st.integers(min_value=1, max_value=9999))
def test_round_trip_property(number: int) -> None:
    assert cn_to_int(int_to_cn(number)) == number


@pytest.mark.parametrize(("text", "number"), [("一十", 10), ("两千", 2000), ("一千〇一", 1001), ("二百零二", 202)])
def test_accepts_common_variants(text: str, number: int) -> None:
    assert cn_to_int(text) == number


@pytest.mark.parametrize("bad", ["", "百", "十十", "二二", "一百十", "零十", "二零", "一万", "12", "第一条"])
def test_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        cn_to_int(bad)


@pytest.mark.parametrize("bad", [0, -1, 10_000])
def test_int_to_cn_range(bad: int) -> None:
    with pytest.raises(ValueError):
        int_to_cn(bad)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("第一千二百零二条", ArticleRef(1202, 0)),
        ("第十条", ArticleRef(10, 0)),
        ("第一百二十条之一", ArticleRef(120, 1)),
        (" 第二条之二 ", ArticleRef(2, 2)),
    ],
)
def test_parse_article(text: str, ref: ArticleRef) -> None:
    assert parse_article(text) == ref
    assert parse_article(ref.label()) == ref


def test_article_label() -> None:
    assert ArticleRef(1202).label() == "第一千二百零二条"
    assert ArticleRef(120, 1).label() == "第一百二十条之一"


@pytest.mark.parametrize("bad", ["第条", "第一千二百零二款", "一千二百零二条", "第一条之", "第一条第二款"])
def test_parse_article_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_article(bad)
