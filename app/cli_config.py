"""``legalqa config``: the effective settings, secrets masked."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.settings import Settings


def run(_command: str, argv: Sequence[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="legalqa settings (env > .env > defaults)")
    for col in ("variable", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for row in Settings.from_env().describe():
        table.add_row(*row)
    Console().print(table)
    return 0
