"""Colloquial → statutory vocabulary, so plain-language questions reach the right articles.

Business users write 宕机, 免责, 说错话; statutes say 不履行合同义务, 免除…责任,
生成内容.  The additions go to the lexical (BM25) query only; the question
itself is never rewritten for the answerer.
"""

from __future__ import annotations

import re

THESAURUS: tuple[tuple[str, str], ...] = (
    (r"宕机|故障|停机|中断|服务出问题|掉线|用不了|无法使用", "违约责任 不履行合同义务 履行不符合约定"),
    (r"不承担(任何)?责任|免责|概不负责|不负责|不赔", "免除 责任 格式条款 无效"),
    (r"格式条款|霸王条款|用户协议|服务协议", "格式条款 提供格式条款一方 免除 限制其责任"),
    (r"间接损失|利润|订单流失", "损失赔偿额 可以获得的利益"),
    (r"说错|答错|错误信息|错误内容|胡说|幻觉|虚假信息|不准确", "生成内容 准确性 可靠性"),
    (r"AI|ai|人工智能|大模型|模型|ChatGPT|chatgpt|LLM|机器人", "生成式人工智能 服务提供者"),
    (r"欺诈|骗|虚假宣传", "欺诈 三倍"),
    (r"精神(损失|损害|赔偿)", "精神损害赔偿"),
    (r"隐私|泄露|个人信息", "个人信息 隐私权"),
    (r"缺陷|质量问题|不合格", "产品缺陷 生产者 销售者"),
    (r"平台|网站|app|APP", "网络服务提供者"),
    (r"违约", "违约责任 赔偿损失"),
    (r"备案", "备案 安全评估"),
)

_COMPILED = tuple((re.compile(p), extra) for p, extra in THESAURUS)


def expand_query(question: str) -> str:
    """The question followed by statutory terms its wording implies."""
    extras = [extra for pattern, extra in _COMPILED if pattern.search(question)]
    return " ".join([question, *extras])
