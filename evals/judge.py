"""Optional LLM judge for a case's ``expected_points`` and ``must_not`` (off by default, never in CI).

The mechanical metrics cannot tell whether an answer *says* what a lawyer
expects; a chat model can, roughly.  It is asked for one JSON object and
nothing else; anything it returns that does not parse is recorded as a judge
error, never as a score.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evals.dataset import EvalCase

JUDGE_PROMPT = (
    "你是严格的评测员。给你一个法律问题、一个回答、若干“要点”和若干“禁止内容”。\n"
    "对每条要点，判断回答是否明确表达了它（意思相同即可，不要求字面一致）；"
    "对每条禁止内容，判断回答是否表达或认可了它。\n"
    '只输出一个 JSON 对象，不要任何其他文字：{"points": [true/false, ...], "violations": [true/false, ...]}，'
    "两个列表的长度分别等于要点和禁止内容的条数。"
)

_JSON_RE = re.compile(r"\{.*\}", re.S)


class Judge:
    def __init__(self, chat_model: Any) -> None:
        self.chat_model = chat_model

    def messages(self, case: EvalCase, answer_text: str) -> list[tuple[str, str]]:
        points = "\n".join(f"{i}. {p}" for i, p in enumerate(case.expected_points, 1)) or "（无）"
        banned = "\n".join(f"{i}. {p}" for i, p in enumerate(case.must_not, 1)) or "（无）"
        user = f"问题：{case.question}\n\n回答：\n<<<\n{answer_text}\n>>>\n\n要点：\n{points}\n\n禁止内容：\n{banned}"
        return [("system", JUDGE_PROMPT), ("human", user)]

    def judge(self, case: EvalCase, answer_text: str) -> dict[str, Any]:
        """``judge_points`` (share of expected points covered), ``judge_must_not_ok`` (1 if no violation)."""
        if not case.expected_points and not case.must_not:
            return {"judge_points": None, "judge_must_not_ok": None, "judge_error": ""}
        try:
            reply = self.chat_model.invoke(self.messages(case, answer_text))
            content = reply.content if isinstance(reply.content, str) else str(reply.content)
            return parse_verdict(content, len(case.expected_points), len(case.must_not))
        except Exception as exc:  # a flaky judge must not end the run
            return {"judge_points": None, "judge_must_not_ok": None, "judge_error": f"{type(exc).__name__}: {exc}"}


def parse_verdict(content: str, n_points: int, n_banned: int) -> dict[str, Any]:
    match = _JSON_RE.search(content)
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {"judge_points": None, "judge_must_not_ok": None, "judge_error": f"unparsable reply: {content[:200]!r}"}
    points, violations = data.get("points", []), data.get("violations", [])
    if not isinstance(points, list) or not isinstance(violations, list) or len(points) != n_points or len(violations) != n_banned:
        return {"judge_points": None, "judge_must_not_ok": None, "judge_error": f"wrong list lengths: {content[:200]!r}"}
    return {
        "judge_points": sum(1 for p in points if p is True) / n_points if n_points else None,
        "judge_must_not_ok": float(not any(v is True for v in violations)) if n_banned else None,
        "judge_error": "",
    }
