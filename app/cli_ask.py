"""``legalqa ask`` and ``legalqa verify``.

Both are used in scripts and pipes, so neither may end in a traceback: bytes that
are not UTF-8 (in the question, on stdin) are replaced, a terminal that cannot show
a character gets an escape, a reader that stops early (``| head``) ends the command
quietly, and a bad setting still gives a warned error answer.  ``--save`` writes the
answer to a temporary file and renames it into place only once the answer exists,
so a failure never leaves a truncated or emptied file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ingest.errors import LegalQAError
from ingest.settings import Settings


def run(command: str, argv: Sequence[str]) -> int:
    _tolerant_streams()
    try:
        code = ask(argv) if command == "ask" else verify(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return 1
    return code


def ask(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa ask", description="回答一个问题，附编号引文和免责提示。")
    parser.add_argument("question", nargs="?", help="问题；省略时从标准输入读取")
    parser.add_argument("--json", action="store_true", help="print the full Answer as JSON")
    parser.add_argument("--k", type=int, default=None, help="passages to retrieve (default LEGALQA_TOP_K)")
    parser.add_argument("--answerer", default=None, help="extractive or llm (default LEGALQA_ANSWERER)")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "bm25"))
    parser.add_argument("--scores", action="store_true", help="show retrieval scores")
    parser.add_argument("--save", type=Path, help="also write the Answer JSON here (for legalqa verify)")
    args = parser.parse_args(argv)
    answerer = _arg_text(args.answerer) if args.answerer else None

    from app.failures import error_answer, redact
    from app.pipeline import default_pipeline
    from app.render import to_text

    try:
        settings = Settings.from_env()
    except LegalQAError as exc:  # e.g. LEGALQA_TOP_K=abc: still a warned answer, naming the variable
        settings = None
        answer = error_answer(_question(args.question, 1 << 20), answerer or "extractive", str(exc))
    if settings is not None:
        question = _question(args.question, max(1 << 20, 4 * settings.max_question_chars + 4))
        try:
            pipeline = default_pipeline(settings)
            answer = pipeline.ask(question, k=args.k, answerer=answerer, mode=args.mode)
        except LegalQAError as exc:  # no index, wrong embedder, Chroma server down: still a warned answer
            answer = error_answer(
                question, answerer or settings.answerer, redact(str(exc), settings.llm_api_key)
            )
        except Exception as exc:  # noqa: BLE001 - a backend that fails to load: a warned answer, not a trace
            message = redact(f"后端出错（{type(exc).__name__}）：{exc}", settings.llm_api_key)
            answer = error_answer(question, answerer or settings.answerer, message)

    data = answer.to_dict()
    problems = []
    if args.save is not None:
        if answer.error:  # an error is no answer: never let it replace a good saved one
            problems.append(f"not saved to {_shown_path(args.save)}: the answer is an error")
        else:
            problems += _save(args.save, json.dumps(data, ensure_ascii=False, indent=2))
    if args.json:
        _write(sys.stdout, _json_for(sys.stdout, data))
    else:
        _write(sys.stdout, to_text(answer, show_scores=args.scores))
    if answer.error:
        problems.insert(0, " ".join(answer.error.split()))  # one line, for scripts and logs
    for problem in problems:
        _write(sys.stderr, f"legalqa ask: {problem}")
    return 2 if answer.error else 1 if problems else 0


def verify(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="legalqa verify", description="逐条核对已保存回答的引文与语料原文。"
    )
    parser.add_argument("answer_json", type=Path)
    args = parser.parse_args(argv)

    from app.saved_answer import MAX_ANSWER_BYTES, parse_saved_answer
    from app.verify import check_answer, report_lines

    try:
        with args.answer_json.open("rb") as fh:
            data = fh.read(MAX_ANSWER_BYTES + 1)
    except OSError as exc:
        raise LegalQAError(f"{_shown_path(args.answer_json)}: cannot read ({exc.strerror or exc})") from None
    saved = parse_saved_answer(data, str(args.answer_json))
    result = check_answer(saved, Settings.from_env().corpus_dir)
    for line in report_lines(result):
        _write(sys.stdout, line)
    _write(sys.stdout, saved.answer.warning)
    return 0 if result.ok else 1


def _arg_text(arg: str) -> str:
    """A command-line argument as text: bytes that were not UTF-8 (kept by Python as surrogate
    escapes) become U+FFFD instead of failing every later encode."""
    try:
        return os.fsencode(arg).decode("utf-8", "replace")
    except UnicodeError:
        return arg.encode("utf-8", "replace").decode("utf-8")


def _question(arg: str | None, limit: int) -> str:
    """The question from the command line, or at most ``limit`` bytes of stdin (a longer one is
    refused as too long by the pipeline anyway), decoded leniently."""
    if arg is not None:
        return _arg_text(arg)
    return sys.stdin.buffer.read(limit).decode("utf-8", "replace")


def _save(path: Path, payload: str) -> list[str]:
    """Write ``payload`` to ``path`` atomically; a problem line on failure (``path`` untouched)."""
    tmp = None
    try:
        target = Path(path)
        mode = target.stat().st_mode & 0o777 if target.exists() else _default_mode()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload.encode("utf-8", "backslashreplace"))  # \udcff inside a JSON string is valid JSON
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except (OSError, ValueError) as exc:  # missing folder, a directory, no permission, NUL in the name
        return [f"cannot save to {_shown_path(path)}: {getattr(exc, 'strerror', None) or exc}"]
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return []


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _shown_path(path: Path) -> str:
    from app.saved_answer import printable

    return printable(str(path), 200)


def _json_for(stream: TextIO, data: dict[str, object]) -> str:
    """Readable UTF-8 JSON, or ASCII escapes when the stream cannot encode it (still valid JSON)."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    try:
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return json.dumps(data, ensure_ascii=True, indent=2)
    return text


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")


def _tolerant_streams() -> None:
    """A character the terminal's encoding lacks is printed as an escape instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """After the reader closed the pipe: point stdout at /dev/null so the interpreter's final
    flush does not print a BrokenPipeError of its own."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
