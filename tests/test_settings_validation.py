"""Settings are validated when built and never show the API key.

* ``LEGALQA_ABSTAIN_THRESHOLD=nan``, a negative ``LEGALQA_MAX_QUESTION_CHARS``, a non-numeric
  ``LEGALQA_TOP_K`` … fail at load with one line naming the variable (a ``LegalQAError``), and
  ``legalqa ask --json`` still prints a warned JSON error answer with a non-zero exit.
* ``repr(Settings)`` and so ``repr(Pipeline)`` mask the key; ``redact`` catches the key echoed
  upper-cased or shortened (8+ characters of it).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.extractive import ExtractiveAnswerer
from app.pipeline import build_pipeline, redact
from app.warning import WARNING
from ingest.errors import LegalQAError
from ingest.settings import Settings
from tests.helpers import settings_env

KEY = "sk-proj-AbCdEfGh12345678XyZ"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEGALQA_ABSTAIN_THRESHOLD", "nan"),
        ("LEGALQA_ABSTAIN_THRESHOLD", "inf"),
        ("LEGALQA_ABSTAIN_THRESHOLD", "-0.1"),
        ("LEGALQA_ABSTAIN_THRESHOLD", "1.5"),
        ("LEGALQA_ABSTAIN_THRESHOLD", "high"),
        ("LEGALQA_MAX_QUESTION_CHARS", "-5"),
        ("LEGALQA_MAX_QUESTION_CHARS", "0"),
        ("LEGALQA_TOP_K", "abc"),
        ("LEGALQA_TOP_K", "0"),
        ("LEGALQA_TOP_K", "-3"),
        ("LEGALQA_TOP_K", "2.5"),
        ("LEGALQA_LOG_QUESTIONS", "maybe"),
    ],
)
def test_invalid_settings_fail_at_load_naming_the_variable(variable: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(LegalQAError) as err:
        Settings.from_env(environ={variable: value}, dotenv=tmp_path / "no.env")
    assert str(err.value).startswith(variable) and "\n" not in str(err.value)


def test_invalid_settings_from_dotenv_fail_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LEGALQA_ABSTAIN_THRESHOLD=nan\n", encoding="utf-8")
    with pytest.raises(LegalQAError, match="LEGALQA_ABSTAIN_THRESHOLD"):
        Settings.from_env(environ={}, dotenv=tmp_path / ".env")


def test_valid_settings_still_load(tmp_path: Path) -> None:
    env = {"LEGALQA_ABSTAIN_THRESHOLD": "0.56", "LEGALQA_TOP_K": " 12 ", "LEGALQA_MAX_QUESTION_CHARS": "50"}
    settings = Settings.from_env(environ=env, dotenv=tmp_path / "no.env")
    assert (settings.abstain_threshold, settings.top_k, settings.max_question_chars) == (0.56, 12, 50)
    assert Settings(abstain_threshold=1e-9).abstain_threshold == 1e-9  # used by tests to answer everything
    assert Settings.from_env(environ={}, dotenv=tmp_path / "no.env") == Settings()


def test_settings_built_in_code_are_validated_too() -> None:
    with pytest.raises(LegalQAError, match="LEGALQA_TOP_K"):
        Settings(top_k=0)
    with pytest.raises(LegalQAError, match="LEGALQA_ABSTAIN_THRESHOLD"):
        replace(Settings(), abstain_threshold=float("nan"))
    with pytest.raises(LegalQAError, match="LEGALQA_MAX_QUESTION_CHARS"):
        Settings().with_overrides(max_question_chars=True)


def test_repr_masks_the_key() -> None:
    settings = Settings(llm_api_key=KEY)
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert KEY not in shown and KEY[:8] not in shown and KEY[-8:] not in shown
        assert "llm_api_key=<set, hidden" in shown
    assert repr(settings) != repr(Settings(llm_api_key=KEY + "2"))  # the UI keys its pipeline cache on the repr
    assert repr(settings) == repr(Settings(llm_api_key=KEY))
    assert settings == Settings(llm_api_key=KEY) and settings.llm_api_key == KEY  # still used, only not shown
    assert "llm_api_key=''" in repr(Settings())


def test_pipeline_repr_masks_the_key(corpus_hash_index: Settings) -> None:
    pipeline = build_pipeline(replace(corpus_hash_index, llm_api_key=KEY), answerers={"extractive": ExtractiveAnswerer()})
    try:
        assert KEY not in repr(pipeline) and KEY[:8] not in repr(pipeline)
    finally:
        pipeline.index.close()


@pytest.mark.parametrize(
    "message",
    [
        f"Incorrect API key provided: {KEY}",
        f"Incorrect API key provided: {KEY.upper()}",
        f"Incorrect API key provided: {KEY.lower()}.",
        f"key={KEY[:8]}…",
        f"key={KEY[:12]}*****{KEY[-4:]}",
        f"key=…{KEY[-9:]}",
        f"Bearer {KEY}, again {KEY.swapcase()}",
    ],
)
def test_redact_catches_other_case_and_shortened_keys(message: str) -> None:
    shown = redact(message, KEY)
    assert "***" in shown
    folded = shown.lower()
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8].lower() not in folded


def test_redact_leaves_other_text_alone() -> None:
    assert redact("服务不可用 (HTTP 503) sk-", KEY) == "服务不可用 (HTTP 503) sk-"
    assert redact(f"{KEY[:7]} is a prefix too short to be the key", KEY) == f"{KEY[:7]} is a prefix too short to be the key"
    assert redact("short abcd ABCD", "abcd") == "short *** ***"
    assert redact("x", "") == "x" and redact("abc", "abc") == "abc"


@pytest.mark.slow
def test_cli_ask_with_invalid_setting_prints_warned_json_error(run_legalqa, corpus_hash_index: Settings) -> None:
    for variable, value in (("LEGALQA_TOP_K", "abc"), ("LEGALQA_ABSTAIN_THRESHOLD", "nan"), ("LEGALQA_MAX_QUESTION_CHARS", "-5")):
        run = run_legalqa(["ask", "--json", "民法典第1202条"], {**settings_env(corpus_hash_index), variable: value})
        assert run.returncode != 0 and "Traceback" not in run.stderr
        answer = json.loads(run.stdout)
        assert answer["warning"] == WARNING and variable in answer["error"] and answer["citations"] == []
        assert run.stderr.count("\n") == 1 and variable in run.stderr
        config = run_legalqa(["config"], {**settings_env(corpus_hash_index), variable: value})
        assert config.returncode == 1 and config.stderr.count("\n") == 1 and variable in config.stderr
    config = run_legalqa(["config"], {**settings_env(corpus_hash_index), "LEGALQA_LLM_API_KEY": KEY})
    assert config.returncode == 0 and "LEGALQA_TOP_K" in config.stdout and KEY not in config.stdout


def test_every_setting_is_declared_once_with_its_variable_help_and_typed_default() -> None:
    from dataclasses import fields

    from ingest.settings import SETTINGS_DOC

    types = {"Path": Path, "str": str, "int": int, "float": float, "bool": bool}
    for f in fields(Settings):
        doc = f.metadata["setting"]
        assert SETTINGS_DOC[f.name] is doc
        assert doc.env == "LEGALQA_" + f.name.upper() and doc.help.endswith(".")
        assert type(f.default) is types[f.type] or isinstance(f.default, types[f.type]), f.name


def test_a_check_declared_with_a_setting_runs_when_built_in_code() -> None:
    with pytest.raises(LegalQAError, match="LEGALQA_TOP_K=0"):
        Settings(top_k=0)
    with pytest.raises(LegalQAError, match="LEGALQA_ABSTAIN_THRESHOLD"):
        Settings(abstain_threshold=float("nan"))


def test_config_shows_the_effective_abstention_threshold(tmp_path: Path) -> None:
    from app.abstain import DEFAULT_THRESHOLD
    from app.cli_config import effective_rows

    def shown(settings: Settings) -> str:
        return next(value for env, value, _help in effective_rows(settings) if env == "LEGALQA_ABSTAIN_THRESHOLD")

    from app.decline import load_model

    model = load_model()
    assert model is not None, "the trained decline model ships with the app"
    default = shown(Settings())
    assert f"P(answerable) < {model.threshold}" in default and f"{DEFAULT_THRESHOLD} " in default
    assert shown(Settings(abstain_threshold=0.7)) == "0.7"


def test_every_test_starts_without_developer_settings(isolated_env: Path) -> None:
    """The autouse fixture: no LEGALQA_* variable and no .env reach a test, so defaults are defaults."""
    import os

    from tests.helpers import TEST_KNOBS

    assert not [v for v in os.environ if v.startswith("LEGALQA_") and v not in TEST_KNOBS]
    assert Path.cwd() == isolated_env and not (isolated_env / ".env").exists()
    assert Settings.from_env() == Settings()
