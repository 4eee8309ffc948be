"""Adapters that let other frameworks use legalqa's retrieval (``langchain_retriever``)."""
