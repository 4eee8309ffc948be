"""The Streamlit UI: pages (chat, source viewer, corpus browser) and their shared parts.

``app/streamlit_app.py`` is the entry point; page scripts live in ``app/ui/pages``
and only call the ``render`` function of the module of the same job.  The HTML
builders in ``app.ui.html`` are pure functions (no Streamlit) and unit-tested.
"""
