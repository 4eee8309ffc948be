"""The browser UI: ``legalqa serve`` or ``streamlit run app/streamlit_app.py``.

Three pages: chat (法律问答), the source viewer (原文查看) that every citation
links to, and the corpus browser (资料库浏览).  The pages live in ``app/ui``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `streamlit run app/streamlit_app.py` from a checkout that is not installed
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from app.ui.html import CSS  # noqa: E402
from app.ui.nav import pages  # noqa: E402

st.set_page_config(
    page_title="生成式AI服务民事责任 · 法律问答",
    page_icon="⚖️",
    layout="wide",
    initial_sidebar_state="auto",  # collapsed on a phone, where it would cover most of the first screen
    menu_items={
        "About": "法律问答（仅供参考，不构成法律意见）：依据所列法律条文和资料摘引作答，每句注明出处。"
    },
)
st.markdown(CSS, unsafe_allow_html=True)
st.navigation(pages(), position="sidebar").run()
