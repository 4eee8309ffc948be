"""Streamlit's own command line (``python -m streamlit``), started by ``legalqa serve``.

The only difference: a background thread starts importing what the first page
load needs (chromadb, bm25s, the pipeline modules, jieba's dictionary) as soon
as the server process starts, while Streamlit boots and the browser loads the
frontend.  Without it the first script run pays all of that after the browser
connects (``legalqa bench`` measures the cold start to the first answer).  The
preload only fills ``sys.modules`` and jieba's tokenizer; it builds no index or
model and any failure in it is ignored (the page then imports as before).
"""

from __future__ import annotations

import logging
import sys
import threading


def preload() -> None:
    try:
        import bm25s  # noqa: F401
        import chromadb  # noqa: F401  - the largest import of the first page load

        import app.pipeline  # noqa: F401
        import app.render  # noqa: F401
        from ingest.tokenize import tokenize

        tokenize("预热")  # loads jieba's dictionary once per process
    except Exception:  # noqa: BLE001 - an optimization only: the page imports whatever is missing
        pass


def main(argv: list[str]) -> None:
    # the server's log (a terminal, or a file when run by tests) says which index each pipeline opened
    # and why a page could not get one
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "bm25s", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    threading.Thread(target=preload, name="legalqa-preload", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", *argv]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
