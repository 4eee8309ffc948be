import pytest

from app.question import QuestionError, clean_question


@pytest.mark.parametrize(
    ("raw", "needle"),
    [("", "为空"), ("   \t\u3000 ", "为空"), ("？？！！。。", "标点"), ("x" * 1001, "过长"), (None, "文本")],
)
def test_bad_questions_get_a_clear_message(raw, needle):
    with pytest.raises(QuestionError, match=needle):
        clean_question(raw, 1000)


def test_control_characters_are_removed_and_text_kept():
    assert clean_question("民法典\x00第1202条\x1b规定什么", 1000) == "民法典 第1202条 规定什么"


def test_non_chinese_text_is_accepted_for_the_pipeline_to_judge():
    assert clean_question("What is product liability?", 1000) == "What is product liability?"
