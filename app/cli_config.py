"""``legalqa config``: the effective settings, secrets masked."""

from __future__ import annotations

from collections.abc import Sequence

from app.abstain import DEFAULT_THRESHOLD
from app.decline import load_model
from ingest.settings import SETTINGS_DOC, Settings


def effective_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """``settings.describe()`` with the values ``app`` really uses where a setting defers to it.

    ``LEGALQA_ABSTAIN_THRESHOLD`` unset (0) means the trained decline model decides (for the
    embedder it was trained with; other embedders use the two-signal rule's calibrated default).
    """
    threshold_env = SETTINGS_DOC["abstain_threshold"].env
    rows = []
    for env, value, help_text in settings.describe():
        if env == threshold_env and not settings.abstain_threshold:
            model = load_model()
            value = f"{DEFAULT_THRESHOLD} (calibrated default)"
            if model is not None:
                value = (
                    f"trained decline model: declines when P(answerable) < {model.threshold} "
                    f"(for {model.embedder}; other embedders: {value})"
                )
        rows.append((env, value, help_text))
    return rows


def run(_command: str, argv: Sequence[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="legalqa settings (env > .env > defaults)")
    for col in ("variable", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for row in effective_rows(Settings.from_env()):
        table.add_row(*row)
    Console().print(table)
    return 0
