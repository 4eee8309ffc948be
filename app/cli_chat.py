"""``legalqa chat``: a conversation in the terminal; follow-up questions are read against earlier ones.

Each line typed is a question; the answer is printed with its citations and the
warning, like ``legalqa ask``.  "那如果是我们自己改过的内容呢？" after a question about
an AI service's liability is searched together with that question, and the answer
says so ("按上下文理解为：…").  ``/new`` starts a new conversation; ``/quit``,
``exit`` or end of input (Ctrl-D) ends it.  Lines can also be piped in.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ingest.settings import Settings

PROMPT = "问> "
QUIT = {"/quit", "/exit", "exit", "quit", "退出"}
NEW = {"/new", "/clear", "新对话"}
KEEP_TURNS = 6  # earlier questions kept as context


def run(command: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa chat", description="终端对话：追问会结合上文理解。")
    parser.add_argument("--k", type=int, default=None, help="passages to retrieve (default LEGALQA_TOP_K)")
    parser.add_argument("--answerer", default=None, help="extractive or llm (default LEGALQA_ANSWERER)")
    parser.add_argument("--scores", action="store_true", help="show retrieval scores")
    args = parser.parse_args(argv)

    from app.conversation import Turn
    from app.pipeline import default_pipeline
    from app.render import to_text

    settings = Settings.from_env()
    pipeline = default_pipeline(settings)
    interactive = sys.stdin.isatty()
    if interactive:
        print("法律问答对话（仅供参考，不构成法律意见）。输入问题后回车；/new 开始新对话，/quit 退出。")
    earlier: list[Turn] = []  # each question and its answer as printed (a follow-up may point at its sources)
    failed = False
    while True:
        try:
            line = input(PROMPT if interactive else "")
        except EOFError:
            break
        except KeyboardInterrupt:
            print()
            break
        question = line.strip()
        if not question:
            continue
        if question in QUIT:
            break
        if question in NEW:
            earlier.clear()
            print("（已开始新对话）")
            continue
        answer = pipeline.ask(question, history=earlier[-2 * KEEP_TURNS :], k=args.k, answerer=args.answerer)
        print(to_text(answer, show_scores=args.scores), flush=True)
        print()
        if answer.error:
            failed = True
            print(f"legalqa chat: {' '.join(answer.error.split())}", file=sys.stderr)
        else:
            earlier += [Turn("user", question), Turn("assistant", to_text(answer))]
    return 2 if failed else 0
