"""Page registry: file paths relative to ``app/streamlit_app.py`` (what st.page_link and AppTest use)."""

from __future__ import annotations

import streamlit as st

CHAT = "ui/pages/chat.py"
SOURCE = "ui/pages/source.py"
CORPUS = "ui/pages/corpus.py"


def pages() -> list[st.Page]:
    return [
        st.Page(CHAT, title="法律问答", icon="💬", url_path="chat", default=True),
        st.Page(SOURCE, title="原文查看", icon="📄", url_path="source"),
        st.Page(CORPUS, title="资料库浏览", icon="📚", url_path="corpus"),
    ]
