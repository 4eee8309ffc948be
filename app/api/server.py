"""The FastAPI app: routes only; validation, errors, auth and the pipeline live in their own modules.

Endpoints are plain ``def``: FastAPI runs them in its thread pool, and the
pipeline is safe to share between threads.  Every 2xx body carries the
not-legal-advice warning, and every error is one line of JSON.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Body, FastAPI, Security
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer

from app.answer import Answer
from app.api.encoding import JSONBody
from app.api.errors import ApiError, install_error_handlers
from app.api.guard import DEFAULT_MAX_BODY_BYTES, Guard
from app.api.holder import PipelineHolder
from app.api.openai_compat import (
    MODEL_NAMES,
    completion,
    completion_chunks,
    model_card,
    model_list,
    server_sent_events,
    split_conversation,
)
from app.api.schemas import AskRequest, ChatCompletionRequest
from app.conversation import Turn
from app.pipeline import Pipeline, build_pipeline
from app.pointers import CitedPassage, citation_listing
from app.question import QuestionError, clean_question
from app.saved_answer import FieldError, SavedAnswer, answer_from_json
from app.verify import check_answer
from app.warning import WARNING
from ingest.errors import CorpusError
from ingest.manifest import load_manifest
from ingest.settings import Settings
from ingest.types import source_mark

TOKEN_ENV = "LEGALQA_API_TOKEN"

DESCRIPTION = (
    "Document-grounded answers on the civil liability of generative-AI services under Chinese law, "
    "each statement citing an exact corpus passage. 仅供参考，不构成法律意见 — every answer carries this warning."
)


def create_app(
    settings: Settings | None = None,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    pipeline_factory: Callable[[Settings], Pipeline] = build_pipeline,
) -> FastAPI:
    """The API for ``settings`` (default: ``LEGALQA_*``); ``token`` defaults to ``$LEGALQA_API_TOKEN`` (empty: no auth)."""
    settings = settings or Settings.from_env()
    token = os.environ.get(TOKEN_ENV, "") if token is None else token
    holder = PipelineHolder(settings, pipeline_factory)
    app = FastAPI(title="legalqa API", version="1", description=DESCRIPTION, default_response_class=JSONBody)
    app.state.holder = holder
    app.state.token_required = bool(token)
    install_error_handlers(app)
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)
    # the Guard checks the token; this scheme only documents it in /openapi.json
    bearer = HTTPBearer(auto_error=False, description=f"needed when {TOKEN_ENV} is set")
    v1 = APIRouter(prefix="/v1", dependencies=[Security(bearer)])

    @v1.post("/ask", summary="Answer a question (the Answer JSON of `legalqa ask --json`)")
    def ask(body: AskRequest) -> JSONBody:
        check_question(body.question, settings, "question")
        history = [
            Turn(
                t.role,
                t.content + citation_listing(CitedPassage(**c.model_dump()) for c in t.citations or ()),
            )
            for t in body.history or ()
            if t.role in ("user", "assistant")
        ]
        answer = answer_question(holder.get(), body.question, body.k, body.answerer, settings, history)
        # question_context: what a follow-up was read as against `history` (null when it stands alone)
        return JSONBody({**answer.to_dict(), "question_context": answer.searched or None})

    @v1.post(
        "/chat/completions", summary="OpenAI-compatible chat completion (last user message is the question)"
    )
    def chat_completions(body: ChatCompletionRequest) -> Any:
        question, earlier = split_conversation(body.messages)
        check_question(question, settings, "messages")
        history = [Turn(m["role"], m["content"]) for m in earlier if m["role"] in ("user", "assistant")]  # type: ignore[arg-type]
        answer = answer_question(holder.get(), question, body.k, body.answerer, settings, history)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            chunks = completion_chunks(answer, body.model, body.messages, include_usage=include_usage)
            return StreamingResponse(
                server_sent_events(chunks),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return JSONBody(completion(answer, body.model, body.messages))

    @v1.get("/models", summary="OpenAI-compatible model list (chat completions accept any name and echo it)")
    def models() -> dict[str, Any]:
        return model_list()

    @v1.get("/models/{model_id}", summary="One model of /v1/models")
    def model(model_id: str) -> dict[str, Any]:
        if model_id not in MODEL_NAMES:
            listed = ", ".join(MODEL_NAMES)
            raise ApiError(
                404, f"model_id: no model {model_id!r} (GET /v1/models lists {listed})", param="model_id"
            )
        return {**model_card(model_id), "warning": WARNING}

    @v1.get("/documents", summary="The corpus documents of the manifest, with their indexed chunk counts")
    def documents() -> dict[str, Any]:
        pipeline = holder.get()
        try:
            metas = load_manifest(settings.corpus_dir)
        except CorpusError as exc:
            raise ApiError(503, f"the corpus manifest cannot be read: {exc}") from None
        counts = Counter(c.doc_id for c in pipeline.index.chunks.values())
        stale = set(pipeline.stale_documents())
        rows = [
            {
                **asdict(m),
                "source_mark": source_mark(m),
                "chunks": counts.get(m.doc_id, 0),
                "stale": m.doc_id in stale,
            }
            for m in metas
        ]
        return {"documents": rows, "index": index_info(pipeline), "warning": WARNING}

    @v1.get(
        "/passages/{chunk_id:path}",
        summary="One passage: text, file offsets, locator, previous/next passage ids",
    )
    def passage(chunk_id: str) -> dict[str, Any]:
        pipeline = holder.get()
        chunk = pipeline.index.chunks.get(chunk_id)
        if chunk is None:
            raise ApiError(
                404,
                f"chunk_id: no passage {chunk_id!r} in the index (ids look like civil-code/1202)",
                param="chunk_id",
            )
        previous, following = holder.neighbours(pipeline)[chunk_id]
        return {**asdict(chunk), "previous": previous, "next": following, "warning": WARNING}

    @v1.post("/verify", summary="Re-check a posted Answer JSON against the corpus, as `legalqa verify` does")
    def verify(
        body: dict[str, Any] = Body(description="an Answer JSON, as returned by /v1/ask"),  # noqa: B008
    ) -> dict[str, Any]:
        """Every check of ``legalqa verify``: each citation an exact slice of its file, and the text, the
        statements and the notes supported by the corpus (an edited note or sentence is a finding)."""
        verification = check_answer(parse_answer(body), settings.corpus_dir)
        checks = verification.citations
        return {
            "checks": [asdict(c) for c in checks],
            "findings": [asdict(f) for f in verification.findings],
            "verified": sum(c.ok for c in checks),
            "total": len(checks),
            "ok": verification.ok,
            "warning": WARNING,
        }

    @app.get("/healthz", summary="Ready when the index opens; 503 with the command to run otherwise")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "index": index_info(holder.get()), "warning": WARNING}

    app.include_router(v1)
    return app


def check_question(question: str, settings: Settings, param: str) -> None:
    """422 with the project's own message (too long, empty, only symbols) before any work is done."""
    try:
        clean_question(question, settings.max_question_chars)
    except QuestionError as exc:
        raise ApiError(422, f"{param}: {exc}", param=param) from None


def answer_question(
    pipeline: Pipeline,
    question: str,
    k: int | None,
    answerer: str | None,
    settings: Settings,
    history: Sequence[Turn] = (),
) -> Answer:
    name = answerer or settings.answerer
    if name not in pipeline.answerers:
        available = ", ".join(pipeline.answerers)
        if answerer:  # the client asked for it: its mistake
            raise ApiError(
                422, f"answerer: {name!r} is not configured (available: {available})", param="answerer"
            )
        raise ApiError(
            503, f"the server's LEGALQA_ANSWERER={name!r} is not configured (available: {available})"
        )
    answer = pipeline.ask(question, history=history, k=k, answerer=name)
    if (
        answer.error
    ):  # the question was checked above: what is left is a backend failure (e.g. Chroma server down)
        raise ApiError(503, answer.error)
    return answer


def parse_answer(body: dict[str, Any]) -> SavedAnswer:
    """The posted Answer JSON, read by ``legalqa verify``'s strict loader; a wrong field is a 422 that
    names it (``citations.0.start: must be an integer, not "0"``), never a Python exception's text."""
    try:
        saved = answer_from_json(body)
    except FieldError as exc:
        field = re.sub(r"\[(\d+)\]", r".\1", exc.field)  # the API names list items as FastAPI does
        raise ApiError(422, f"{field}: {exc}", param=field) from None
    for i, c in enumerate(saved.answer.citations):
        path = PurePosixPath(c.file)
        if path.is_absolute() or ".." in path.parts or "\\" in c.file:
            where = f"citations.{i}.file"
            raise ApiError(422, f"{where}: {c.file!r} is not a path inside the corpus", param=where)
    return saved


def index_info(pipeline: Pipeline) -> dict[str, Any]:
    info = getattr(pipeline.index, "info", None)
    return {
        "generation": getattr(info, "generation", ""),
        "built_at": getattr(info, "built_at", ""),
        "chunks": len(pipeline.index.chunks),
    }
